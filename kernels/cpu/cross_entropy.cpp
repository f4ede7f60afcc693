// Softmax cross-entropy on the CPU: loss and dlogits in one pass over the logits.
//   For a row z with target y:  m = max z,  s = sum_c exp(z_c - m),  loss = m + log s - z_y,
//   dlogits_c = (exp(z_c - m) / s - 1[c = y]) / N'    (the mean over the N' rows that count).
// A row whose target is ignore_index (torch's default -100) counts for nothing: its loss is left out,
// its dlogits are 0, and N' is the number of the other rows. With every row ignored the loss is
// 0 / 0 = NaN and every gradient 0, as torch defines it. A NaN logit makes its row's loss and
// dlogits NaN (so the batch's loss too), as in torch: a diverging run must show it.
#include <ATen/ATen.h>
#include <ATen/AccumulateType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "cpu_ops.h"
#include "gemm/gemm.h"
#include "../common/validate.h"

namespace minitorch_clf {
namespace {

// exp of 16 floats: x = n ln2 + r with n = round(x / ln2) and |r| <= ln2 / 2 (ln2 split in a high
// part exact in float and a low correction, so r keeps its bits); exp(r) = 1 + r + r^2 P(r) with P the
// degree-5 minimax polynomial of (exp(r) - 1 - r) / r^2 on that interval; then times 2^n (scalef).
// Relative error under 2e-7 over [-87, 88]; x below -87.3 gives 0 (as expf underflows), -inf gives 0.
// NaN stays NaN: vmaxps/vminps return their second operand when either is NaN, so x goes second in
// the clamps (with x first, a NaN became -87.3 and its row a finite loss).
__attribute__((target("avx512f"))) inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-87.3f), x);
  x = _mm512_min_ps(_mm512_set1_ps(88.3f), x);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

// One row of C <= 16 float logits in one masked register: returns the row's loss (in double, as the
// scalar path keeps it) and writes dlogits. The lanes past C hold -inf, whose exp is 0. A NaN logit
// reaches every lane through z - m (m may or may not be NaN: the max tree drops NaNs in some orders).
__attribute__((target("avx512f"))) double cross_entropy_row16(const float* z, float* dz, int64_t C, int64_t y,
                                                             float inv_n) {
  const __mmask16 live = static_cast<__mmask16>((1u << C) - 1u);
  const __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), live, z);
  const float m = _mm512_reduce_max_ps(v);
  const __m512 e = _mm512_maskz_mov_ps(live, exp16(_mm512_sub_ps(v, _mm512_set1_ps(m))));
  const float s = _mm512_reduce_add_ps(e);
  __m512 d = _mm512_mul_ps(e, _mm512_set1_ps(inv_n / s));
  d = _mm512_mask_sub_ps(d, static_cast<__mmask16>(1u << y), d, _mm512_set1_ps(inv_n));
  _mm512_mask_storeu_ps(dz, live, d);
  return double(m) + std::log(double(s)) - double(z[y]);
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> cross_entropy_forward_backward_cpu(const at::Tensor& logits,
                                                                      const at::Tensor& target,
                                                                      int64_t ignore_index) {
  check_cross_entropy(logits, target);
  const int64_t N = logits.size(0), C = logits.size(1);
  at::Tensor z = logits.contiguous();
  at::Tensor t = target.contiguous();
  const int64_t* y = t.data_ptr<int64_t>();
  int64_t counted = 0;                       // N': the rows whose target is not ignore_index
  for (int64_t n = 0; n < N; ++n) {          // every target checked before anything is computed
    if (y[n] == ignore_index) continue;
    TORCH_CHECK(y[n] >= 0 && y[n] < C, "target: class index ", y[n], " at position ", n, " is outside [0, ", C,
                ") and is not ignore_index (", ignore_index, ")");
    ++counted;
  }
  at::Tensor dlogits = at::empty_like(z);
  at::Tensor loss = at::empty({}, z.options());
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "cross_entropy_forward_backward_cpu", [&] {
    using acc_t = at::acc_type<scalar_t, false>;
    const scalar_t* zp = z.data_ptr<scalar_t>();
    scalar_t* dp = dlogits.data_ptr<scalar_t>();
    std::vector<acc_t> row_loss(static_cast<size_t>(N));
    const acc_t inv_n = acc_t(1) / acc_t(counted);                  // inf when every row is ignored: unused
    // float32 rows of at most 16 classes in one AVX-512 register each, where the GEMM's ISA is AVX-512
    // (set_isa / MINITORCH_CLF_ISA switch both); otherwise the scalar loop below, in acc_t (double).
    // Rows are cut in chunks of 256 for the threads: a row is a chain of dependent reductions and a
    // log, and batch 1024 in one chunk left the second core idle (RESULTS.md, 2026-11-27 late).
    const bool wide = std::is_same<scalar_t, float>::value && C <= 16 && gemm::default_isa() == gemm::Isa::kAvx512;
    if (wide) {
      const float* zf = reinterpret_cast<const float*>(zp);
      float* df = reinterpret_cast<float*>(dp);
      at::parallel_for(0, N, 256, [&](int64_t begin, int64_t end) {
        for (int64_t n = begin; n < end; ++n) {
          if (y[n] == ignore_index) {
            std::fill(df + n * C, df + (n + 1) * C, 0.0f);
            row_loss[n] = 0;
          } else {
            row_loss[n] = static_cast<acc_t>(cross_entropy_row16(zf + n * C, df + n * C, C, y[n], float(inv_n)));
          }
        }
      });
    } else {
      at::parallel_for(0, N, std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1)), [&](int64_t begin, int64_t end) {
        std::vector<acc_t> e(static_cast<size_t>(C));                  // exp(z_c - m) of one row, computed once
        for (int64_t n = begin; n < end; ++n) {
          const scalar_t* row = zp + n * C;
          scalar_t* drow = dp + n * C;
          if (y[n] == ignore_index) {
            std::fill(drow, drow + C, scalar_t(0));
            row_loss[n] = 0;
            continue;
          }
          acc_t m = row[0];                                              // a NaN reaches s through z - m
          for (int64_t c = 1; c < C; ++c) m = std::max<acc_t>(m, row[c]);
          acc_t s = 0;
          for (int64_t c = 0; c < C; ++c) s += e[c] = std::exp(acc_t(row[c]) - m);
          row_loss[n] = m + std::log(s) - acc_t(row[y[n]]);
          const acc_t scale = inv_n / s;                                 // softmax / N' = exp(z - m) / (s N')
          for (int64_t c = 0; c < C; ++c) {
            drow[c] = static_cast<scalar_t>(e[c] * scale - (c == y[n] ? inv_n : acc_t(0)));
          }
        }
      });
    }
    acc_t total = 0;
    for (int64_t n = 0; n < N; ++n) total += row_loss[n];      // in order: deterministic
    loss.fill_(static_cast<scalar_t>(total / acc_t(counted)));  // 0 / 0 = NaN when every row is ignored
  });
  return {loss, dlogits};
}

TORCH_LIBRARY_IMPL(minitorch_clf, CPU, m) {
  m.impl("cross_entropy_forward_backward", &cross_entropy_forward_backward_cpu);
}

}  // namespace minitorch_clf
