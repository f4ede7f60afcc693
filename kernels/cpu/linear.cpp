// Fused linear layer on the CPU: forward y = max(x W^T + b, 0), backward with the ReLU mask and the
// bias-gradient reduction in one pass over dout. Each product is the GEMM of gemm.h (float32; the
// bias + ReLU, or the ReLU mask of the layer below, in its epilogue) or ATen's (MKL) followed by one
// pass for the same epilogue: use_own_gemm decides per product (cpu_ops.h). Everything besides the
// products touches memory once.
//   N = batch, I = in_features, O = out_features
#include <ATen/ATen.h>
#include <ATen/AccumulateType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "validate.h"
#include "cpu_ops.h"
#include "flags.h"

namespace minitorch_clf {
namespace {

constexpr int64_t kRowsPerBlock = 32;  // fixed reduction blocks: the same sums for any thread count

// out (N, O) += bias (O,), then max(., 0) when kRelu. NaN stays NaN, as in torch.relu.
template <typename scalar_t, bool kRelu>
void bias_relu_epilogue(scalar_t* __restrict__ out, const scalar_t* __restrict__ bias, int64_t N, int64_t O) {
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(O, 1));
  at::parallel_for(0, N, grain, [=](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      scalar_t* __restrict__ row = out + n * O;
      for (int64_t o = 0; o < O; ++o) {
        const scalar_t v = row[o] + bias[o];
        row[o] = (kRelu && v < scalar_t(0)) ? scalar_t(0) : v;
      }
    }
  });
}

// dz = dout * 1[out > 0] (or dout itself) written to dz (N, O), and dbias[o] = sum_n dz[n, o].
// Rows are summed in fixed blocks of kRowsPerBlock, in parallel; the block sums are then added in
// block order, so the result does not depend on how many threads ran.
template <typename scalar_t, bool kRelu>
void relu_mask_bias_grad(const scalar_t* __restrict__ dout, const scalar_t* __restrict__ out,
                         scalar_t* __restrict__ dz, scalar_t* __restrict__ dbias, int64_t N, int64_t O) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  const int64_t blocks = (N + kRowsPerBlock - 1) / kRowsPerBlock;
  std::vector<acc_t> partial(static_cast<size_t>(blocks * O), acc_t(0));
  acc_t* __restrict__ part = partial.data();
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(O * kRowsPerBlock, 1));
  at::parallel_for(0, blocks, grain, [=](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      acc_t* __restrict__ sum = part + b * O;
      for (int64_t n = b * kRowsPerBlock; n < std::min(N, (b + 1) * kRowsPerBlock); ++n) {
        for (int64_t o = 0; o < O; ++o) {
          const scalar_t g = (!kRelu || out[n * O + o] > scalar_t(0)) ? dout[n * O + o] : scalar_t(0);
          if constexpr (kRelu) dz[n * O + o] = g;
          sum[o] += g;
        }
      }
    }
  });
  for (int64_t o = 0; o < O; ++o) {
    acc_t s = 0;
    for (int64_t b = 0; b < blocks; ++b) s += partial[b * O + o];
    dbias[o] = static_cast<scalar_t>(s);
  }
}

}  // namespace

at::Tensor linear_forward_cpu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                              bool relu) {
  check_linear(x, weight, bias);
  const int64_t N = x.size(0), I = x.size(1), O = weight.size(0);
  at::Tensor b = bias.contiguous();
  if (use_own_gemm(x, N, O, I)) {
    gemm::Epilogue ep;
    ep.bias = b.data_ptr<float>();
    ep.relu = relu;
    const gemm::View wt{weight.data_ptr<float>(), weight.stride(1), weight.stride(0)};   // Wᵀ (I, O)
    return own_product(as_view(x), wt, N, O, I, ep, x.options());
  }
  at::Tensor out = at::mm(x, weight.t());                          // (N, I)·(I, O) = (N, O), contiguous
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "linear_forward_cpu", [&] {
    with_flags([&](auto kRelu) {
      bias_relu_epilogue<scalar_t, kRelu>(out.data_ptr<scalar_t>(), b.data_ptr<scalar_t>(), N, O);
    }, relu);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_backward_cpu(const at::Tensor& dout, const at::Tensor& x,
                                                                   const at::Tensor& weight, const at::Tensor& out,
                                                                   bool relu, bool need_dx, bool mask_dx) {
  check_linear_backward(dout, x, weight, out);
  const int64_t N = x.size(0), I = x.size(1), O = weight.size(0);
  at::Tensor g = dout.contiguous();
  at::Tensor o = out.contiguous();
  at::Tensor dz = relu ? at::empty_like(g) : g;                    // (N, O)
  at::Tensor dbias = at::empty({O}, weight.options());
  AT_DISPATCH_FLOATING_TYPES(dout.scalar_type(), "linear_backward_cpu", [&] {
    with_flags([&](auto kRelu) {
      relu_mask_bias_grad<scalar_t, kRelu>(g.data_ptr<scalar_t>(), o.data_ptr<scalar_t>(), dz.data_ptr<scalar_t>(),
                                           dbias.data_ptr<scalar_t>(), N, O);
    }, relu);
  });
  at::Tensor dweight = use_own_gemm(x, O, I, N)                    // (O, N)·(N, I) = (O, I)
      ? own_product({dz.data_ptr<float>(), 1, O}, as_view(x), O, I, N, {}, x.options())
      : at::mm(dz.t(), x);
  if (!need_dx) return {at::empty({0}, x.options()), dweight, dbias};
  if (use_own_gemm(x, N, I, O)) {                                  // (N, O)·(O, I) = (N, I)
    at::Tensor xc = mask_dx ? x.contiguous() : x;
    gemm::Epilogue ep;
    if (mask_dx) {
      ep.mask = xc.data_ptr<float>();
      ep.mask_ld = I;
    }
    return {own_product(as_view(dz), as_view(weight), N, I, O, ep, x.options()), dweight, dbias};
  }
  at::Tensor dx = at::mm(dz, weight);
  if (mask_dx) dx = at::where(x > 0, dx, 0);                       // NaN in x -> 0, as in the epilogue
  return {dx, dweight, dbias};
}

TORCH_LIBRARY_IMPL(minitorch_clf, CPU, m) {
  m.impl("linear_forward", &linear_forward_cpu);
  m.impl("linear_backward", [](const at::Tensor& dout, const at::Tensor& x, const at::Tensor& weight,
                               const at::Tensor& out, bool relu, bool need_dx) {
    return linear_backward_cpu(dout, x, weight, out, relu, need_dx);
  });
}

}  // namespace minitorch_clf
