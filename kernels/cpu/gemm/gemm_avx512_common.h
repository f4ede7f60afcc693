// What the AVX-512 kernels share (gemm_avx512.cpp, gemm_bf16.cpp): k-masks, the epilogue on 16 lanes,
// the 16 x 16 transpose in registers. Included inside each file's target pragma, and in an unnamed
// namespace: each file gets its own copy, compiled for its own instruction set.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "gemm_kernels.h"

namespace minitorch_clf::gemm {
namespace {

// Lanes [0, n) on (n in 0..16, clamped).
inline __mmask16 lanes16(int64_t n) {
  return static_cast<__mmask16>(n <= 0 ? 0 : n >= 16 ? 0xFFFF : (1u << n) - 1);
}

// ReLU and leaky ReLU on 16 lanes (NaN kept, as torch), and g · act'(s) for them (gemm_avx2.cpp's).
inline __m512 activate16(Activation a, __m512 v) {
  const __m512 zero = _mm512_setzero_ps();
  if (a == Activation::kRelu) return _mm512_max_ps(zero, v);
  if (a == Activation::kLeakyRelu)
    return _mm512_mask_mul_ps(v, static_cast<__mmask16>(~_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ)), v, _mm512_set1_ps(kLeakySlope));
  return v;
}

inline __m512 backprop16(Activation a, __m512 g, __m512 s) {
  const __mmask16 positive = _mm512_cmp_ps_mask(s, _mm512_setzero_ps(), _CMP_GT_OQ);
  if (a == Activation::kRelu) return _mm512_maskz_mov_ps(positive, g);
  if (a == Activation::kLeakyRelu) return _mm512_mask_mul_ps(g, static_cast<__mmask16>(~positive), g, _mm512_set1_ps(kLeakySlope));
  return g;
}

// The epilogue on 16 columns of row i: bias, activation, backprop through the layer below.
inline __m512 finish16(__m512 v, const Epilogue& ep, int64_t i, int64_t j, __mmask16 m) {
  if (ep.bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, ep.bias + j));
  v = activate16(ep.act, v);
  if (ep.through) v = backprop16(ep.through_act, v, _mm512_maskz_loadu_ps(m, ep.through + i * ep.through_ld + j));
  return v;
}

// r[i] lane j -> r[j] lane i: a 16 x 16 block transposed in registers, in four rounds of shuffles
// that swap ever larger sub-blocks (1 float, 2 floats, 4 floats as 128-bit lanes, then 8).
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
#pragma GCC unroll 8
  for (int i = 0; i < 16; i += 2) {     // 2 x 2 blocks of single floats
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 16; i += 4) {     // of float pairs
    for (int h = 0; h < 2; ++h) {
      const __m512d lo = _mm512_castps_pd(t[i + h]), hi = _mm512_castps_pd(t[i + h + 2]);
      r[i + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo, hi));
      r[i + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo, hi));
    }
  }
#pragma GCC unroll 2
  for (int i = 0; i < 16; i += 8) {     // of 128-bit lanes, then of 256-bit halves
    for (int h = 0; h < 4; ++h) {
      t[i + h] = _mm512_shuffle_f32x4(r[i + h], r[i + h + 4], 0x88);
      t[i + h + 4] = _mm512_shuffle_f32x4(r[i + h], r[i + h + 4], 0xdd);
    }
  }
#pragma GCC unroll 8
  for (int h = 0; h < 8; ++h) {
    r[h] = _mm512_shuffle_f32x4(t[h], t[h + 8], 0x88);
    r[h + 8] = _mm512_shuffle_f32x4(t[h], t[h + 8], 0xdd);
  }
}

// An R x 16V tile's float32 sums (acc0: columns j.., acc1: j + 16..) into C: added to C's partial sums
// after the first K block, finished by the epilogue after the last; m0, m1 mask the columns.
template <int R, int V>
__attribute__((always_inline)) inline void store_tile(const Problem& p, const __m512 acc0[R], const __m512 acc1[R], int64_t i, int64_t j, bool first,
                       bool last, __mmask16 m0, __mmask16 m1) {
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    float* c = p.c + (i + r) * p.ldc + j;
    __m512 v0 = acc0[r], v1 = acc1[r];
    if (!first) {
      v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, c), v0);
      if (V == 2) v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, c + 16), v1);
    }
    if (last) {
      v0 = finish16(v0, p.ep, i + r, j, m0);
      if (V == 2) v1 = finish16(v1, p.ep, i + r, j + 16, m1);
    }
    _mm512_mask_storeu_ps(c, m0, v0);
    if (V == 2) _mm512_mask_storeu_ps(c + 16, m1, v1);
  }
}

}  // namespace
}  // namespace minitorch_clf::gemm
