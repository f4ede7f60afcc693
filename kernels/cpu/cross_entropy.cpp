// Softmax cross-entropy on the CPU: loss and dlogits in one pass over the logits.
//   For a row z with target y:  m = max z,  s = sum_c exp(z_c - m),  loss = m + log s - z_y,
//   dlogits_c = (exp(z_c - m) / s - 1[c = y]) / N     (the mean over the N rows).
#include <ATen/ATen.h>
#include <ATen/AccumulateType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cmath>
#include <vector>

#include "validate.h"
#include "cpu_ops.h"

namespace minitorch_clf {

std::tuple<at::Tensor, at::Tensor> cross_entropy_forward_backward_cpu(const at::Tensor& logits,
                                                                      const at::Tensor& target) {
  check_cross_entropy(logits, target);
  const int64_t N = logits.size(0), C = logits.size(1);
  at::Tensor z = logits.contiguous();
  at::Tensor t = target.contiguous();
  const int64_t* y = t.data_ptr<int64_t>();
  for (int64_t n = 0; n < N; ++n) {          // every target checked before anything is computed
    TORCH_CHECK(y[n] >= 0 && y[n] < C, "target: class index ", y[n], " at position ", n, " is outside [0, ", C,
                ")");
  }
  at::Tensor dlogits = at::empty_like(z);
  at::Tensor loss = at::empty({}, z.options());
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "cross_entropy_forward_backward_cpu", [&] {
    using acc_t = at::acc_type<scalar_t, false>;
    const scalar_t* zp = z.data_ptr<scalar_t>();
    scalar_t* dp = dlogits.data_ptr<scalar_t>();
    std::vector<acc_t> row_loss(static_cast<size_t>(N));
    const acc_t inv_n = acc_t(1) / acc_t(N);
    at::parallel_for(0, N, std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1)), [&](int64_t begin, int64_t end) {
      std::vector<acc_t> e(static_cast<size_t>(C));                  // exp(z_c - m) of one row, computed once
      for (int64_t n = begin; n < end; ++n) {
        const scalar_t* row = zp + n * C;
        scalar_t* drow = dp + n * C;
        acc_t m = row[0];
        for (int64_t c = 1; c < C; ++c) m = std::max<acc_t>(m, row[c]);
        acc_t s = 0;
        for (int64_t c = 0; c < C; ++c) s += e[c] = std::exp(acc_t(row[c]) - m);
        row_loss[n] = m + std::log(s) - acc_t(row[y[n]]);
        const acc_t scale = inv_n / s;                                 // softmax / N = exp(z - m) / (s N)
        for (int64_t c = 0; c < C; ++c) {
          drow[c] = static_cast<scalar_t>(e[c] * scale - (c == y[n] ? inv_n : acc_t(0)));
        }
      }
    });
    acc_t total = 0;
    for (int64_t n = 0; n < N; ++n) total += row_loss[n];      // in order: deterministic
    loss.fill_(static_cast<scalar_t>(total / acc_t(N)));
  });
  return {loss, dlogits};
}

TORCH_LIBRARY_IMPL(minitorch_clf, CPU, m) {
  m.impl("cross_entropy_forward_backward", &cross_entropy_forward_backward_cpu);
}

}  // namespace minitorch_clf
