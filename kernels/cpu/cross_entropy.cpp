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

// transpose16 (16 x 16 floats in registers), compiled for AVX-512 as the GEMM's kernels are
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,fma")
#include "gemm/gemm_avx512_common.h"
#pragma GCC pop_options

namespace minitorch_clf {
namespace {

// Groups of sixteen rows per thread: a second thread above 512 rows. On the 2-core Xeon (2026-12-05,
// the op called from Python, 1 and 2 threads in turns in one process, medians of 15 rounds, three runs;
// RESULTS.md fifth session): 1,024 rows one thread 20.2-27.3 us, two 17.9-22.1; 2,048 rows 34.1-50.3, 29.9-36.8.
constexpr int64_t kGroupsPerThread = 32;

// exp of 16 floats: x = n ln2 + r with n = round(x / ln2) and |r| <= ln2 / 2 (ln2 split in a high
// part exact in float and a low correction, so r keeps its bits); exp(r) = 1 + r + r^2 P(r) with P the
// degree-5 minimax polynomial of (exp(r) - 1 - r) / r^2 on that interval; then times 2^n (scalef).
// Relative error under 2e-7 over [-87, 88]; x below -87.3 gives 0 (as expf underflows), -inf gives 0.
// NaN stays NaN: vmaxps/vminps return their second operand when either is NaN, so x goes second in
// the clamps (with x first, a NaN became -87.3 and its row a finite loss).
__attribute__((target("avx512f,avx512vl,fma"))) inline __m512 exp16(__m512 x) {
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

// Sixteen rows of C <= 16 float logits at once, a class to a register. The rows are loaded (C lanes each,
// -inf past C) and transposed in registers, so that lane i of r[c] is class c of row n0 + i; then the max,
// the exps, their sum and the gradient are lane-wise operations over C registers. One row per register
// was a chain of two reductions across lanes, an exp and a log for each row; here sixteen rows' chains run
// side by side (1,024 rows of 10 classes on one thread of the 2-core Xeon: 23-35 us one row at a time,
// 10-16 us sixteen at a time; RESULTS.md 2026-12-05 fifth session).
// The same bits as that one-row kernel: the sum adds the classes in the order in which
// _mm512_reduce_add_ps adds the lanes of one row's register (lane i + 8 to lane i, then + 4, then
// (0 + 2) + (1 + 3)), the gradient is e * (inv_n / s) less inv_n at the target, and each row's loss is
// double(m) + log(double(s)) - double(z_y). Rows whose target is ignore_index get a zero gradient and a
// zero loss. `rows` <= 16 rows are read and written (the batch's last group); y holds their targets.
// A NaN logit reaches its row's every class through s (see exp16); m may or may not be NaN.
__attribute__((target("avx512f,avx512vl,fma"))) void cross_entropy_rows16(const float* z, float* dz, int64_t rows, int64_t C,
                                                            const int64_t* y, int64_t ignore_index, float inv_n,
                                                            double* row_loss) {
  const __mmask16 classes = static_cast<__mmask16>((1u << C) - 1u), live = static_cast<__mmask16>((1u << rows) - 1u);
  __m512 r[16];
  for (int i = 0; i < 16; ++i)
    r[i] = i < rows ? _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), classes, z + i * C) : _mm512_setzero_ps();
  gemm::transpose16(r);                                          // r[c] lane i: row i's logit of class c
  // the targets as 32-bit lanes, and the rows that count (targets compared in 64 bits: ignore_index may not fit 32)
  const __m512i y_lo = _mm512_maskz_loadu_epi64(static_cast<__mmask8>(live), y);
  const __m512i y_hi = _mm512_maskz_loadu_epi64(static_cast<__mmask8>(live >> 8), y + 8);
  const __m512i ignore = _mm512_set1_epi64(ignore_index);
  const __mmask16 counted = live & static_cast<__mmask16>(~(_mm512_cmpeq_epi64_mask(y_lo, ignore) |
                                                           (_mm512_cmpeq_epi64_mask(y_hi, ignore) << 8)));
  const __m512i target = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(y_lo)),
                                            _mm512_cvtepi64_epi32(y_hi), 1);
  __m512 m = r[0];
  for (int64_t c = 1; c < C; ++c) m = _mm512_max_ps(m, r[c]);
  __m512 e[16], zy = _mm512_setzero_ps();
  for (int c = 0; c < 16; ++c) {
    if (c >= C) {
      e[c] = _mm512_setzero_ps();
      continue;
    }
    e[c] = exp16(_mm512_sub_ps(r[c], m));
    zy = _mm512_mask_mov_ps(zy, _mm512_cmpeq_epi32_mask(target, _mm512_set1_epi32(c)), r[c]);
  }
  __m512 t[8];
  for (int c = 0; c < 8; ++c) t[c] = _mm512_add_ps(e[c + 8], e[c]);
  for (int c = 0; c < 4; ++c) t[c] = _mm512_add_ps(t[c + 4], t[c]);
  const __m512 s = _mm512_add_ps(_mm512_add_ps(t[2], t[0]), _mm512_add_ps(t[3], t[1]));
  const __m512 scale = _mm512_div_ps(_mm512_set1_ps(inv_n), s), n = _mm512_set1_ps(inv_n);
  for (int64_t c = 0; c < C; ++c) {
    const __m512 d = _mm512_mul_ps(e[c], scale);
    r[c] = _mm512_maskz_mov_ps(counted, _mm512_mask_sub_ps(d, _mm512_cmpeq_epi32_mask(target, _mm512_set1_epi32(int(c))), d, n));
  }
  for (int64_t c = C; c < 16; ++c) r[c] = _mm512_setzero_ps();
  gemm::transpose16(r);                                          // back: r[i] lane c, row i's gradient
  for (int i = 0; i < rows; ++i) _mm512_mask_storeu_ps(dz + i * C, classes, r[i]);
  alignas(64) float ms[16], ss[16], zs[16];
  _mm512_store_ps(ms, m);
  _mm512_store_ps(ss, s);
  _mm512_store_ps(zs, zy);
  for (int i = 0; i < rows; ++i)
    row_loss[i] = (counted >> i) & 1 ? double(ms[i]) + std::log(double(ss[i])) - double(zs[i]) : 0.0;
}

// Rows [begin, end) of one row at a time, in acc_t (double for float32 and float64 logits).
template <typename scalar_t, typename acc_t>
void cross_entropy_rows_scalar(const scalar_t* zp, scalar_t* dp, const int64_t* y, int64_t begin, int64_t end,
                               int64_t C, int64_t ignore_index, acc_t inv_n, acc_t* row_loss) {
  std::vector<acc_t> e(static_cast<size_t>(C));                      // exp(z_c - m) of one row, computed once
  for (int64_t n = begin; n < end; ++n) {
    const scalar_t* row = zp + n * C;
    scalar_t* drow = dp + n * C;
    if (y[n] == ignore_index) {
      std::fill(drow, drow + C, scalar_t(0));
      row_loss[n] = 0;
      continue;
    }
    acc_t m = row[0];                                                  // a NaN reaches s through z - m
    for (int64_t c = 1; c < C; ++c) m = std::max<acc_t>(m, row[c]);
    acc_t s = 0;
    for (int64_t c = 0; c < C; ++c) s += e[c] = std::exp(acc_t(row[c]) - m);
    row_loss[n] = m + std::log(s) - acc_t(row[y[n]]);
    const acc_t scale = inv_n / s;                                     // softmax / N' = exp(z - m) / (s N')
    for (int64_t c = 0; c < C; ++c) {
      drow[c] = static_cast<scalar_t>(e[c] * scale - (c == y[n] ? inv_n : acc_t(0)));
    }
  }
}

// float32 rows of at most 16 classes sixteen at a time in AVX-512 registers, where the GEMM's ISA is AVX-512
// (set_isa / MINITORCH_CLF_ISA switch both); otherwise one row at a time in double. Each row's values do not
// depend on the rows around it (cross_entropy_rows16 works lane by lane), so any cut of the rows gives the same bits.
bool cross_entropy_wide(int64_t C) { return C <= 16 && gemm::default_isa() == gemm::Isa::kAvx512; }

}  // namespace

int64_t cross_entropy_counted(const int64_t* y, int64_t N, int64_t C, int64_t ignore_index) {
  int64_t counted = 0;                       // N': the rows whose target is not ignore_index
  for (int64_t n = 0; n < N; ++n) {          // every target checked before anything is computed
    if (y[n] == ignore_index) continue;
    TORCH_CHECK_VALUE(y[n] >= 0 && y[n] < C, "target: class index ", y[n], " at position ", n, " is outside [0, ", C,
                      ") and is not ignore_index (", ignore_index, ")");
    ++counted;
  }
  return counted;
}

void cross_entropy_rows(const float* z, float* dz, const int64_t* y, int64_t begin, int64_t end, int64_t C,
                        int64_t ignore_index, int64_t counted, double* row_loss) {
  const double inv_n = 1.0 / double(counted);                        // inf when every row is ignored: unused
  if (!cross_entropy_wide(C)) return cross_entropy_rows_scalar<float, double>(z, dz, y, begin, end, C, ignore_index,
                                                                              inv_n, row_loss);
  for (int64_t n = begin; n < end; n += 16)
    cross_entropy_rows16(z + n * C, dz + n * C, std::min<int64_t>(16, end - n), C, y + n, ignore_index, float(inv_n),
                         row_loss + n);
}

std::tuple<at::Tensor, at::Tensor> cross_entropy_forward_backward_cpu(const at::Tensor& logits,
                                                                      const at::Tensor& target,
                                                                      int64_t ignore_index, TensorSource* source) {
  check_cross_entropy(logits, target);
  const int64_t N = logits.size(0), C = logits.size(1);
  at::Tensor z = logits.contiguous();
  at::Tensor t = target.contiguous();
  const int64_t* y = t.data_ptr<int64_t>();
  const int64_t counted = cross_entropy_counted(y, N, C, ignore_index);
  at::Tensor dlogits = empty_from(source, z.sizes(), z.options());
  at::Tensor loss = at::empty({}, z.options());
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "cross_entropy_forward_backward_cpu", [&] {
    using acc_t = at::acc_type<scalar_t, false>;
    const scalar_t* zp = z.data_ptr<scalar_t>();
    scalar_t* dp = dlogits.data_ptr<scalar_t>();
    std::vector<acc_t> row_loss(static_cast<size_t>(N));
    if constexpr (std::is_same<scalar_t, float>::value) {             // acc_t of float: double
      const bool wide = cross_entropy_wide(C);               // groups of sixteen rows, or rows of 8192 logits
      const int64_t units = wide ? (N + 15) / 16 : N, per = wide ? 16 : 1;
      at::parallel_for(0, units, wide ? kGroupsPerThread : std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1)),
                       [&](int64_t begin, int64_t end) {
                         // (both branches compile for both types: the casts are the identity where they run)
                         cross_entropy_rows(reinterpret_cast<const float*>(zp), reinterpret_cast<float*>(dp), y,
                                            begin * per, std::min(N, end * per), C, ignore_index, counted,
                                            reinterpret_cast<double*>(row_loss.data()));
                       });
    } else {
      at::parallel_for(0, N, std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1)), [&](int64_t begin, int64_t end) {
        cross_entropy_rows_scalar<scalar_t, acc_t>(zp, dp, y, begin, end, C, ignore_index, acc_t(1) / acc_t(counted),
                                                   row_loss.data());
      });
    }
    acc_t total = 0;
    for (int64_t n = 0; n < N; ++n) total += row_loss[n];      // in order: deterministic
    *loss.data_ptr<scalar_t>() = static_cast<scalar_t>(total / acc_t(counted));   // 0 / 0 = NaN: every row ignored
  });
  return {loss, dlogits};
}

TORCH_LIBRARY_IMPL(minitorch_clf, CPU, m) {
  m.impl("cross_entropy_forward_backward", [](const at::Tensor& logits, const at::Tensor& target, int64_t ignore_index) {
    return cross_entropy_forward_backward_cpu(logits, target, ignore_index);
  });
}

}  // namespace minitorch_clf
