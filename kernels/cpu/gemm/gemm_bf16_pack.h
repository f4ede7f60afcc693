// Rounding float32 operands to bf16 and pairing them along k, the way vdpbf16ps and AMX's tdpbf16ps read
// them (gemm_bf16.cpp, gemm_amx.cpp): lane i of a dword holds (x[2q], x[2q+1]) in its low and high halves.
// Included inside each file's AVX512-BF16 target pragma, after gemm_avx512_common.h, in an unnamed
// namespace: each file gets its own copy.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "gemm_kernels.h"

namespace minitorch_clf::gemm {
namespace {

constexpr int64_t kPairNR = kOuter512NR;   // columns of a packed B panel: 32 pairs per k-pair row

// One float to bf16 bits, round to nearest even (NaN kept quiet, denormals to zero as the instructions do).
inline uint32_t bf16_bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  if ((u & 0x7F800000u) == 0) return (u >> 16) & 0x8000u;                    // zero or denormal: signed zero
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return ((u >> 16) | 0x40u) & 0xFFFFu;  // NaN
  return ((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16) & 0xFFFFu;
}

inline uint32_t pair_of(float even, float odd) { return bf16_bits(even) | (bf16_bits(odd) << 16); }

// 16 floats of one k-row and 16 of the next -> 16 pairs, lane by lane: one conversion of both (words 0-15
// even's, 16-31 odd's) and one permutation of words that interleaves them. (Converting each to 16 words,
// widening both to dwords, shifting and or-ing was six operations to these two.)
inline __m512i pairs16(__m512 even, __m512 odd) {
  const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                              23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(odd, even));
}

// 32 floats along k from p (n valid) -> 16 pairs in order.
inline __m512 line_pairs(const float* p, int64_t n) {
  const __m512 lo = _mm512_maskz_loadu_ps(lanes16(n), p), hi = _mm512_maskz_loadu_ps(lanes16(n - 16), p + 16);
  return (__m512)_mm512_cvtne2ps_pbh(hi, lo);
}

// Two lines contiguous along k, 32 floats of each from `even` and `odd` (odd nullptr: a line of zeros), n of them
// valid (zero past n): each line's 16 pairs along k, in order (line_pairs), to along0 and along1; and, where
// `across` is given, the 32 pairs across the two lines, (even[c], odd[c]) for c = 0 .. 31, to across[0 .. 32) (a
// pair row of View::pairs' panel: a layer's input paired as B while it is packed as A). The pairs across
// interleave the words of the pairs along k: the same conversions, no more (pairs16 of each half would convert
// every float again).
__attribute__((always_inline)) inline void pair_two_lines(const float* even, const float* odd, int64_t n,
                                                          __m512i& along0, __m512i& along1, uint32_t* across) {
  const __mmask16 m0 = lanes16(n), m1 = lanes16(n - 16);
  const __m512 lo0 = _mm512_maskz_loadu_ps(m0, even), hi0 = _mm512_maskz_loadu_ps(m1, even + 16);
  const __m512 lo1 = odd ? _mm512_maskz_loadu_ps(m0, odd) : _mm512_setzero_ps();
  const __m512 hi1 = odd ? _mm512_maskz_loadu_ps(m1, odd + 16) : _mm512_setzero_ps();
  along0 = (__m512i)_mm512_cvtne2ps_pbh(hi0, lo0), along1 = (__m512i)_mm512_cvtne2ps_pbh(hi1, lo1);
  if (!across) return;
  // words 0-15 of along0 and along1 are columns 0-15, words 16-31 columns 16-31
  const __m512i first = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8,
                                         39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
  const __m512i second = _mm512_add_epi16(first, _mm512_set1_epi16(16));
  _mm512_storeu_si512(across, _mm512_permutex2var_epi16(along0, first, along1));
  _mm512_storeu_si512(across + 16, _mm512_permutex2var_epi16(along0, second, along1));
}

// The pairs of `lines` lines (at most 16) contiguous along k, line l starting at base + l * ld, k in [0, kn),
// transposed 16 x 16 in registers: pair q of line l to out[q * stride + l], `lines` dwords per q.
void pack_lines(const float* base, int64_t ld, int64_t lines, int64_t kn, uint32_t* out, int64_t stride) {
  const int64_t kp = (kn + 1) / 2;
  const __mmask16 m = lanes16(lines);
  for (int64_t k = 0; k < kn; k += 32) {
    __m512 r[16];
#pragma GCC unroll 16
    for (int l = 0; l < 16; ++l)
      r[l] = l < lines ? line_pairs(base + l * ld + k, kn - k) : _mm512_setzero_ps();   // 16 pairs along k, in order
    transpose16(r);                                    // r[q] lane l: line l's pair k / 2 + q
    for (int64_t q = 0; q < 16 && k / 2 + q < kp; ++q) _mm512_mask_storeu_ps(out + (k / 2 + q) * stride, m, r[q]);
  }
}

// The pairs of `count` (at most 16) consecutive elements of k-rows k0, k0 + 1, ... contiguous along the
// other index: store(q, v) gets (row k0 + 2q, element l; row k0 + 2q + 1, element l) in lane l (0 past count).
template <class Store>
void pack_rows_each(const float* base, int64_t ld, int64_t count, int64_t kn, const Store& store) {
  const __mmask16 m = lanes16(count);
  for (int64_t q = 0; 2 * q < kn; ++q) {
    const __m512 even = _mm512_maskz_loadu_ps(m, base + 2 * q * ld);
    const __m512 odd = 2 * q + 1 < kn ? _mm512_maskz_loadu_ps(m, base + (2 * q + 1) * ld) : _mm512_setzero_ps();
    store(q, _mm512_castsi512_ps(pairs16(even, odd)));
  }
}

// The same into out[q * stride + l], `count` dwords per q.
void pack_rows(const float* base, int64_t ld, int64_t count, int64_t kn, uint32_t* out, int64_t stride) {
  const __mmask16 m = lanes16(count);
  pack_rows_each(base, ld, count, kn, [&](int64_t q, __m512 v) { _mm512_mask_storeu_ps(out + q * stride, m, v); });
}

// B, columns [j, j + cols) (cols <= kPairNR) x k [k0, k1), as one panel.
void pack_b(const View& b, int64_t j, int64_t cols, int64_t k0, int64_t k1, uint32_t* __restrict__ out) {
  const int64_t kn = k1 - k0, kp = (kn + 1) / 2;
  if (cols < kPairNR) std::memset(out, 0, sizeof(uint32_t) * kp * kPairNR);
  const float* src = b.data + k0 * b.rs + j * b.cs;
  for (int64_t c0 = 0; c0 < cols; c0 += 16) {
    const int64_t count = std::min<int64_t>(16, cols - c0);
    if (b.rs == 1) {
      pack_lines(src + c0 * b.cs, b.cs, count, kn, out + c0, kPairNR);
    } else if (b.cs == 1) {
      pack_rows(src + c0, b.rs, count, kn, out + c0, kPairNR);
    } else {
      for (int64_t q = 0; q < kp; ++q)
        for (int64_t c = c0; c < c0 + count; ++c)
          out[q * kPairNR + c] = pair_of(src[2 * q * b.rs + c * b.cs], 2 * q + 1 < kn ? src[(2 * q + 1) * b.rs + c * b.cs] : 0.0f);
    }
  }
}

// The same panel with its pairs zero from kp up to kq (whole AMX tiles: the panels of View::pairs).
void pack_b_tiles(const View& b, int64_t j, int64_t cols, int64_t k0, int64_t k1, int64_t kq, uint32_t* out) {
  const int64_t kp = (k1 - k0 + 1) / 2;
  pack_b(b, j, cols, k0, k1, out);
  std::memset(out + kp * kPairNR, 0, sizeof(uint32_t) * (kq - kp) * kPairNR);
}

}  // namespace
}  // namespace minitorch_clf::gemm
