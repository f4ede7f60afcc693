// Fused linear layer on the CPU: forward h = act(x Wᵀ + b), backward with the activation's derivative
// and the bias-gradient reduction in one pass over dout. Each product is the GEMM of gemm/gemm.h
// (float32; bias and activation - or the derivative of the layer below's - in its epilogue) or
// ATen's (MKL) followed by one pass for the same epilogue: use_own_gemm decides per product
// (cpu_ops.h). Everything besides the products touches memory once.
//
// The activations (../common/activation.h) split in two:
//   identity, relu, leaky_relu: a max or a compare-and-blend, applied in registers by the GEMM's
//     epilogue (or in this file's own pass after an ATen product), derivative in the bias pass;
//   tanh, sigmoid, gelu, gelu_tanh: one pass of ATen's vectorised kernels (at::tanh, at::gelu,
//     at::gelu_backward, ...: SLEEF's exp/erf/tanh, 16 lanes at a time) after the product.
// The second group ran element by element in the epilogue at first (activation.h's scalar
// functions on values still in L1): a call to erf or tanh per element, and the fused step with
// them at batch 1024 became slower than before the change, where ATen's vectorised pass is not
// (benchmarks/RESULTS.md, 2026-11-27, activations).
//   N = batch, I = in_features, O = out_features
#include <ATen/ATen.h>
#include <ATen/AccumulateType.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/library.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "../common/validate.h"
#include "cpu_ops.h"
#include "on_isa.h"

namespace minitorch_clf {
namespace {

constexpr int64_t kRowsPerBlock = 32;  // fixed reduction blocks: the same sums for any thread count

// The element loops below run through on_isa (on_isa.h): compiled for the GEMM's instruction set.

// Rows [begin, end) of out (N, O) = act(out + bias), for an activation of the epilogue group
// (identity: the bias alone).
template <typename scalar_t, Activation A>
void bias_activation_rows(scalar_t* __restrict__ out, const scalar_t* __restrict__ bias, int64_t O, int64_t begin,
                          int64_t end) {
  for (int64_t n = begin; n < end; ++n) {
    scalar_t* __restrict__ row = out + n * O;
    for (int64_t o = 0; o < O; ++o) row[o] = activate<A>(row[o] + bias[o]);
  }
}

template <typename scalar_t, Activation A>
void bias_activation(scalar_t* out, const scalar_t* bias, int64_t N, int64_t O) {
  at::parallel_for(0, N, gemm::rows_per_grain(O), [=](int64_t begin, int64_t end) {
    on_isa([&] { bias_activation_rows<scalar_t, A>(out, bias, O, begin, end); });
  });
}

// Row blocks [b0, b1) of kRowsPerBlock rows: dz = dout · act'(saved) (not written for the identity),
// and each block's column sums of dz into part (blocks, O).
template <typename scalar_t, typename acc_t, Activation A>
void bias_grad_blocks(const scalar_t* __restrict__ dout, const scalar_t* __restrict__ saved, scalar_t* __restrict__ dz,
                      acc_t* __restrict__ part, int64_t N, int64_t O, int64_t b0, int64_t b1) {
  for (int64_t b = b0; b < b1; ++b) {
    acc_t* __restrict__ sum = part + b * O;
    for (int64_t n = b * kRowsPerBlock; n < std::min(N, (b + 1) * kRowsPerBlock); ++n) {
      // Two loops over the row, `omp simd` on the first: as one loop, or without the pragma, the
      // compiler kept ReLU's select as a branch around the load of dout (mispredicted on random
      // signs) and vectorised neither the float32 nor (split) the float64 instance.
      const scalar_t* __restrict__ g = dout + n * O;
      if constexpr (A != Activation::kIdentity) {
#pragma omp simd
        for (int64_t o = 0; o < O; ++o) dz[n * O + o] = backprop<A>(dout[n * O + o], saved[n * O + o]);
        g = dz + n * O;
      }
      for (int64_t o = 0; o < O; ++o) sum[o] += g[o];
    }
  }
}

// dz = dout · act'(saved) written to dz (N, O) (dz is dout itself for the identity), and
// dbias[o] = sum_n dz[n, o]. Rows are summed in fixed blocks of kRowsPerBlock, in parallel; the block
// sums are then added in block order, so the result does not depend on how many threads ran.
template <typename scalar_t, Activation A>
void activation_bias_grad(const scalar_t* dout, const scalar_t* saved, scalar_t* dz, scalar_t* dbias, int64_t N,
                          int64_t O) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  const int64_t blocks = (N + kRowsPerBlock - 1) / kRowsPerBlock;
  std::vector<acc_t> partial(static_cast<size_t>(blocks * O), acc_t(0));
  acc_t* part = partial.data();
  at::parallel_for(0, blocks, gemm::rows_per_grain(O * kRowsPerBlock), [=](int64_t b0, int64_t b1) {
    on_isa([&] { bias_grad_blocks<scalar_t, acc_t, A>(dout, saved, dz, part, N, O, b0, b1); });
  });
  for (int64_t o = 0; o < O; ++o) {
    acc_t s = 0;
    for (int64_t b = 0; b < blocks; ++b) s += partial[b * O + o];
    dbias[o] = static_cast<scalar_t>(s);
  }
}

// dx[k] = dx[k] · act'(s[k]) for k in [begin, end), for the epilogue group: the ATen product's pass for
// what gemm.h's epilogue does in registers.
template <typename scalar_t, Activation A>
void backprop_range(scalar_t* __restrict__ dx, const scalar_t* __restrict__ s, int64_t begin, int64_t end) {
#pragma omp simd
  for (int64_t k = begin; k < end; ++k) dx[k] = backprop<A>(dx[k], s[k]);
}

template <typename scalar_t, Activation A>
void backprop_in_place(scalar_t* dx, const scalar_t* s, int64_t count) {
  at::parallel_for(0, count, gemm::kElementsPerThread, [=](int64_t begin, int64_t end) {
    on_isa([&] { backprop_range<scalar_t, A>(dx, s, begin, end); });
  });
}

// The vectorised group, by ATen: h = act(z), and g · act'(s) with s = h (tanh, sigmoid) or z (GELU).
at::Tensor aten_activate(Activation act, const at::Tensor& z) {
  switch (act) {
    case Activation::kTanh: return at::tanh(z);
    case Activation::kSigmoid: return at::sigmoid(z);
    case Activation::kGelu: return at::gelu(z, "none");
    case Activation::kGeluTanh: return at::gelu(z, "tanh");
    default: TORCH_CHECK(false, "aten_activate: ", kActivationNames[static_cast<int>(act)], " runs in the epilogue");
  }
}

at::Tensor aten_backprop(Activation act, const at::Tensor& g, const at::Tensor& s) {
  switch (act) {
    case Activation::kTanh: return at::tanh_backward(g, s);
    case Activation::kSigmoid: return at::sigmoid_backward(g, s);
    case Activation::kGelu: return at::gelu_backward(g, s, "none");
    case Activation::kGeluTanh: return at::gelu_backward(g, s, "tanh");
    default: TORCH_CHECK(false, "aten_backprop: ", kActivationNames[static_cast<int>(act)], " runs in the epilogue");
  }
}

// The epilogue group's instance of f, or f's identity instance where act belongs to ATen's group.
template <typename F>
void with_epilogue_activation(Activation act, F&& f) {
  with_activation(gemm::in_epilogue(act) ? act : Activation::kIdentity, std::forward<F>(f));
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> linear_forward_cpu(const at::Tensor& x, const at::Tensor& weight,
                                                      const at::Tensor& bias, Activation act,
                                                      gemm::Bf16Pairs* x_pairs, TensorSource* source) {
  check_linear(x, weight, bias);
  const int64_t N = x.size(0), I = x.size(1), O = weight.size(0);
  at::Tensor b = bias.contiguous();
  const bool fused = gemm::in_epilogue(act);
  at::Tensor z;                                                    // act(x Wᵀ + b), or x Wᵀ + b for ATen's group
  if (use_own_gemm(x, N, O, I)) {
    gemm::Epilogue ep;
    ep.bias = b.data_ptr<float>();
    ep.act = fused ? act : Activation::kIdentity;
    const gemm::View wt{weight.data_ptr<float>(), weight.stride(1), weight.stride(0)};   // Wᵀ (I, O)
    const gemm::View a = x_pairs ? x_pairs->as_a(x.data_ptr<float>(), N, I, x.stride(0)) : as_view(x);
    z = own_product(a, wt, N, O, I, ep, x.options(), gemm::Isa::kAuto, source);
  } else {
    z = at::mm(x, weight.t());                                     // (N, I)·(I, O) = (N, O), contiguous
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "linear_forward_cpu", [&] {
      with_epilogue_activation(act, [&](auto A) {
        bias_activation<scalar_t, decltype(A)::value>(z.data_ptr<scalar_t>(), b.data_ptr<scalar_t>(), N, O);
      });
    });
  }
  const at::Tensor none = empty_from(source, {0, 0}, x.options());
  if (fused) return {z, none};
  return {aten_activate(act, z), reads_pre(act) ? z : none};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_backward_cpu(const at::Tensor& dout, const at::Tensor& x,
                                                                   const at::Tensor& weight, const at::Tensor& saved,
                                                                   Activation act, bool need_dx,
                                                                   Activation through_act, const at::Tensor& through,
                                                                   const gemm::Bf16Pairs* x_pairs,
                                                                   bool need_dweight, gemm::Done dweight_done,
                                                                   TensorSource* source) {
  check_linear_backward(dout, x, weight, saved);
  const int64_t N = x.size(0), I = x.size(1), O = weight.size(0);
  at::Tensor g = dout.contiguous();
  at::Tensor s = saved.contiguous();
  if (!gemm::in_epilogue(act)) {                                   // dz by ATen, then the bias pass on dz
    g = aten_backprop(act, g, s).contiguous();
    act = Activation::kIdentity;
  }
  at::Tensor dz = act == Activation::kIdentity ? g : empty_from(source, g.sizes(), g.options());   // (N, O)
  at::Tensor dbias = empty_from(source, {O}, weight.options());
  {
    RECORD_FUNCTION("backward: bias gradient", c10::ArrayRef<const c10::IValue>{});   // profiler scopes
    AT_DISPATCH_FLOATING_TYPES(dout.scalar_type(), "linear_backward_cpu", [&] {
      with_activation(act, [&](auto A) {
        activation_bias_grad<scalar_t, decltype(A)::value>(g.data_ptr<scalar_t>(), s.data_ptr<scalar_t>(),
                                                           dz.data_ptr<scalar_t>(), dbias.data_ptr<scalar_t>(), N, O);
      });
    });
  }
  at::Tensor dweight;
  const bool own_dweight = use_own_gemm(x, O, I, N);              // (O, N)·(N, I) = (O, I)
  TORCH_CHECK(!dweight_done.fn || (need_dweight && own_dweight),
              "linear_backward_cpu: dweight_done needs the dW product of gemm.h's GEMM");
  const auto dweight_product = [&] {
    RECORD_FUNCTION(dweight_done.fn ? "backward: dW product, W updated in it" : "backward: dW product",
                    c10::ArrayRef<const c10::IValue>{});
    gemm::Epilogue ep;
    ep.done = dweight_done;
    dweight = own_dweight
        ? own_product({dz.data_ptr<float>(), 1, O}, x_pairs ? x_pairs->as_b() : as_view(x), O, I, N, ep, x.options(),
                      gemm::Isa::kAuto, source)
        : at::mm(dz.t(), x);
  };
  // Where dweight_done updates W, W's last reader goes first: the dx product reads W.
  if (need_dweight && !(dweight_done.fn && need_dx)) dweight_product();
  if (!need_dx) return {empty_from(source, {0}, x.options()), dweight, dbias};
  const bool backprop_dx = through_act != Activation::kIdentity;
  at::Tensor t = backprop_dx ? through.contiguous() : through;
  TORCH_CHECK(!backprop_dx || t.sizes() == x.sizes(), "through: expected the shape of x ", x.sizes(), ", got ",
              t.sizes());
  const bool fused = gemm::in_epilogue(through_act);
  at::Tensor dx;
  {
    RECORD_FUNCTION("backward: dx product", c10::ArrayRef<const c10::IValue>{});
    if (use_own_gemm(x, N, I, O)) {                                // (N, O)·(O, I) = (N, I)
      gemm::Epilogue ep;
      if (backprop_dx && fused) {
        ep.through_act = through_act;
        ep.through = t.data_ptr<float>();
        ep.through_ld = I;
      }
      dx = own_product(as_view(dz), as_view(weight), N, I, O, ep, x.options(), gemm::Isa::kAuto, source);
    } else {
      dx = at::mm(dz, weight);
      if (backprop_dx && fused) {
        AT_DISPATCH_FLOATING_TYPES(dx.scalar_type(), "linear_backward_cpu", [&] {
          with_epilogue_activation(through_act, [&](auto A) {
            backprop_in_place<scalar_t, decltype(A)::value>(dx.data_ptr<scalar_t>(), t.data_ptr<scalar_t>(),
                                                            dx.numel());
          });
        });
      }
    }
    if (backprop_dx && !fused) dx = aten_backprop(through_act, dx, t);
  }
  if (dweight_done.fn && need_dx) dweight_product();
  return {dx, dweight, dbias};
}

int linear_product_threads(const at::Tensor& x_like, int64_t N, const at::Tensor& weight, bool need_dx) {
  const int64_t I = weight.size(1), O = weight.size(0);
  const gemm::View x{nullptr, I, 1}, wt{nullptr, weight.stride(1), weight.stride(0)}, w{nullptr, weight.stride(0),
                                                                                         weight.stride(1)};
  const gemm::View dz{nullptr, O, 1}, dzt{nullptr, 1, O};             // the products' views, as above
  struct Product {
    int64_t M, N, K;
    gemm::View a, b;
  };
  std::vector<Product> products{{N, O, I, x, wt}, {O, I, N, dzt, x}};
  if (need_dx) products.push_back({N, I, O, dz, w});
  int most = 1;
  for (const Product& p : products) {
    if (!use_own_gemm(x_like, p.M, p.N, p.K)) return 0;
    const gemm::Shape shape{p.M, p.N, p.K, gemm::layout_of(p.a), gemm::layout_of(p.b)};
    most = std::max(most, gemm::plan_for(shape, gemm::Isa::kAuto).threads);
  }
  return most;
}

TORCH_LIBRARY_IMPL(minitorch_clf, CPU, m) {
  m.impl("linear_forward", [](const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                              c10::string_view activation) {
    return linear_forward_cpu(x, weight, bias, parse_activation(activation));
  });
  m.impl("linear_backward", [](const at::Tensor& dout, const at::Tensor& x, const at::Tensor& weight,
                               const at::Tensor& saved, c10::string_view activation, bool need_dx) {
    return linear_backward_cpu(dout, x, weight, saved, parse_activation(activation), need_dx);
  });
}

}  // namespace minitorch_clf
