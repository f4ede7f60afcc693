// Fused linear layer on the CPU: forward y = max(x W^T + b, 0), backward with the ReLU mask and the
// bias-gradient reduction in one pass over dout. The two GEMMs of each direction are ATen's (MKL /
// OpenBLAS); the point here is that everything else touches memory once.
//   N = batch, I = in_features, O = out_features
#include <ATen/ATen.h>
#include <ATen/AccumulateType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "checks.h"
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
  at::Tensor out = at::mm(x, weight.t());                          // (N, I)·(I, O) = (N, O), contiguous
  at::Tensor b = bias.contiguous();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "linear_forward_cpu", [&] {
    with_flags([&](auto kRelu) {
      bias_relu_epilogue<scalar_t, kRelu>(out.data_ptr<scalar_t>(), b.data_ptr<scalar_t>(), out.size(0),
                                          out.size(1));
    }, relu);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_backward_cpu(const at::Tensor& dout, const at::Tensor& x,
                                                                   const at::Tensor& weight, const at::Tensor& out,
                                                                   bool relu, bool need_dx) {
  check_linear_backward(dout, x, weight, out);
  at::Tensor g = dout.contiguous();
  at::Tensor o = out.contiguous();
  at::Tensor dz = relu ? at::empty_like(g) : g;                    // (N, O)
  at::Tensor dbias = at::empty({weight.size(0)}, weight.options());
  AT_DISPATCH_FLOATING_TYPES(dout.scalar_type(), "linear_backward_cpu", [&] {
    with_flags([&](auto kRelu) {
      relu_mask_bias_grad<scalar_t, kRelu>(g.data_ptr<scalar_t>(), o.data_ptr<scalar_t>(), dz.data_ptr<scalar_t>(),
                                           dbias.data_ptr<scalar_t>(), g.size(0), g.size(1));
    }, relu);
  });
  at::Tensor dweight = at::mm(dz.t(), x);                          // (O, N)·(N, I) = (O, I)
  at::Tensor dx = need_dx ? at::mm(dz, weight) : at::empty({0}, x.options());  // (N, O)·(O, I)
  return {dx, dweight, dbias};
}

TORCH_LIBRARY_IMPL(minitorch_clf, CPU, m) {
  m.impl("linear_forward", &linear_forward_cpu);
  m.impl("linear_backward", &linear_backward_cpu);
}

}  // namespace minitorch_clf
