// The AVX2/FMA micro-kernels of gemm.h. Built for AVX2 + FMA by the target pragma below whatever the
// compiler flags, and called only after gemm.cpp has asked the CPU (cpu_has_avx2_fma).
//
// Outer-product kernel (dx = dz·W, dW = dzᵀ·x, and any other layout). A 6 x 16 tile of C lives in
// 12 ymm registers; each k broadcasts 6 values of A's column k and loads 16 of B's row k:
//     acc[r][0:8]  += A[i+r, k] * B[k, j:j+8]        acc[r][8:16] += A[i+r, k] * B[k, j+8:j+16]
// 12 FMAs for 2 loads and 6 broadcasts, 15 of the 16 registers. Blocks of A and panels of B are
// packed where that pays (see outer_block_avx2), else read in place through their strides.
//
// Dot-product kernel (both operands contiguous along k: y = x·Wᵀ, where B = Wᵀ is W read by rows).
// A 3 x 4 tile of C is 12 ymm registers of partial sums along k, 8 k at a time:
//     acc[r][s] += x[i+r, k:k+8] * W[j+s, k:k+8]     then C[i+r, j+s] = sum of acc[r][s]'s 8 lanes
// 12 FMAs for 7 loads; the horizontal sums are paid once per tile, and W is read in place: packing
// Wᵀ for the outer kernel instead made fc1's x·Wᵀ (K = 784) slower (see gemm.cpp).
#include <immintrin.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "gemm_kernels.h"
#include "gemm_outer_block.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace minitorch_clf::gemm {
namespace {

// Lanes [0, n) on: the mask of a partial vector (n in 0..8).
inline __m256i lanes(int64_t n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n < 0 ? 0 : n > 8 ? 8 : n)), idx);
}

template <bool kFull>
inline __m256 load8(const float* p, __m256i m) {
  if constexpr (kFull) return _mm256_loadu_ps(p);
  else return _mm256_maskload_ps(p, m);
}

template <bool kFull>
inline void store8(float* p, __m256 v, __m256i m) {
  if constexpr (kFull) _mm256_storeu_ps(p, v);
  else _mm256_maskstore_ps(p, m, v);
}

// ReLU and leaky ReLU on 8 lanes: max(0, v) keeps a NaN v, as torch.relu; the blend keeps it too.
inline __m256 activate8(Activation a, __m256 v) {
  const __m256 zero = _mm256_setzero_ps();
  if (a == Activation::kRelu) return _mm256_max_ps(zero, v);
  if (a == Activation::kLeakyRelu)
    return _mm256_blendv_ps(_mm256_mul_ps(v, _mm256_set1_ps(kLeakySlope)), v, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
  return v;
}

// g · act'(s) for them: g where s > 0, else 0 (ReLU: NaN s -> 0) or 0.01 g.
inline __m256 backprop8(Activation a, __m256 g, __m256 s) {
  const __m256 zero = _mm256_setzero_ps(), positive = _mm256_cmp_ps(s, zero, _CMP_GT_OQ);
  if (a == Activation::kRelu) return _mm256_and_ps(g, positive);
  if (a == Activation::kLeakyRelu) return _mm256_blendv_ps(_mm256_mul_ps(g, _mm256_set1_ps(kLeakySlope)), g, positive);
  return g;
}

// The epilogue on 8 columns of row i: bias, activation, backprop through the layer below.
template <bool kFull>
inline __m256 finish8(__m256 v, const Epilogue& ep, int64_t i, int64_t j, __m256i m) {
  if (ep.bias) v = _mm256_add_ps(v, load8<kFull>(ep.bias + j, m));
  v = activate8(ep.act, v);
  if (ep.through) v = backprop8(ep.through_act, v, load8<kFull>(ep.through + i * ep.through_ld + j, m));
  return v;
}

// The same on 4 columns (the dot kernel's row of sums): finish8 on the low half, masked loads and stores.
inline __m128 finish4(__m128 v, const Epilogue& ep, int64_t i, int64_t j) {
  return _mm256_castps256_ps128(finish8<false>(_mm256_castps128_ps256(v), ep, i, j, lanes(4)));
}

// Packed operands of the outer kernel. Packing reads each operand once per block whatever its
// strides, and the kernel then walks both with unit stride: no L1 set conflicts from power-of-two
// leading dimensions (dzᵀ read in place put its 64 k-steps of a tile, 512 bytes apart, into 8 of
// L1's 64 sets), and no masked loads at the edges (packed panels are zero-padded).
//   A block: gemm_outer_block.h's pack_a, panels of kOuterMR = 6 rows.
//   B, the share's columns x the same k, as 16-column panels, each row by row:
//     bpack[(t * kn + k) * 16 + c] = B[k0 + k, j0 + 16t + c]           (0 past the share)
//   B's columns contiguous (B = Wᵀ in x·Wᵀ): 8 x 8 blocks transposed in registers.

// r[i] lane j -> r[j] lane i, in three rounds of shuffles: single floats, float pairs, 128-bit halves.
inline void transpose8(__m256 r[8]) {
  __m256 t[8];
#pragma GCC unroll 4
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
#pragma GCC unroll 2
  for (int i = 0; i < 8; i += 4) {
    for (int h = 0; h < 2; ++h) {
      r[i + 2 * h] = _mm256_shuffle_ps(t[i + h], t[i + h + 2], 0x44);
      r[i + 2 * h + 1] = _mm256_shuffle_ps(t[i + h], t[i + h + 2], 0xEE);
    }
  }
#pragma GCC unroll 4
  for (int h = 0; h < 4; ++h) {
    t[h] = _mm256_permute2f128_ps(r[h], r[h + 4], 0x20);
    t[h + 4] = _mm256_permute2f128_ps(r[h], r[h + 4], 0x31);
  }
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) r[i] = t[i];
}

void pack_b(const View& b, int64_t j, int64_t cols, int64_t k0, int64_t k1, float* __restrict__ out) {
  const float* src = b.data + k0 * b.rs + j * b.cs;
  if (b.rs == 1) {
    const int64_t kn = k1 - k0;
    for (int64_t c0 = 0; c0 < kOuterNR; c0 += 8) {
      for (int64_t k = 0; k < kn; k += 8) {
        const __m256i m = lanes(kn - k);
        __m256 r[8];
#pragma GCC unroll 8
        for (int c = 0; c < 8; ++c)
          r[c] = c0 + c < cols ? _mm256_maskload_ps(src + (c0 + c) * b.cs + k, m) : _mm256_setzero_ps();
        transpose8(r);
        const int64_t rows = std::min<int64_t>(8, kn - k);
        for (int64_t t = 0; t < rows; ++t) _mm256_storeu_ps(out + (k + t) * kOuterNR + c0, r[t]);
      }
    }
    return;
  }
  for (int64_t k = k0; k < k1; ++k, src += b.rs, out += kOuterNR) {
    if (b.cs == 1 && cols == kOuterNR) {
      _mm256_storeu_ps(out, _mm256_loadu_ps(src));
      _mm256_storeu_ps(out + 8, _mm256_loadu_ps(src + 8));
    } else {
      for (int64_t c = 0; c < kOuterNR; ++c) out[c] = c < cols ? src[c * b.cs] : 0.0f;
    }
  }
}

// C[i:i+MR, j:j+16] (+)= A[i:i+MR, k-block] · B[k-block, j:j+16]. A element (r, k) at a[r*a_rs + k*a_cs]
// and B row k at b + k*ldb: the operands in place, or their packed copies (a_rs 1, a_cs 6, ldb 16).
// kFull = all 16 columns exist (else m0, m1 mask B's loads and C's stores). first: C is written, else
// added to. last: the epilogue runs. kFetch: each k also asks for that k-row of the next panel in L2 (b_next,
// ld_next apart: the panel's last tile, B read in place; gemm_outer_block.h). kCopy: each k-row loaded is also
// stored at copy + k * 16 (a whole panel's first tile, B read in place; gemm_outer_block.h).
template <int MR, bool kFull, bool kFetch = false, bool kCopy = false>
void outer_tile(const Problem& p, const float* a, int64_t a_rs, int64_t a_cs, const float* b, int64_t ldb,
                int64_t kn, int64_t i, int64_t j, bool first, bool last, __m256i m0, __m256i m1,
                const float* b_next = nullptr, int64_t ld_next = 0, float* copy = nullptr) {
  // Every loop over r is unrolled: an array indexed by a run-time r would live in memory, not registers.
  __m256 acc0[MR], acc1[MR];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kn; ++k, a += a_cs, b += ldb) {
    if constexpr (kFetch) {
      _mm_prefetch(reinterpret_cast<const char*>(b_next), _MM_HINT_T1);
      b_next += ld_next;
    }
    const __m256 b0 = load8<kFull>(b, m0), b1 = load8<kFull>(b + 8, m1);
    if constexpr (kCopy) {
      _mm256_store_ps(copy + k * kOuterNR, b0);
      _mm256_store_ps(copy + k * kOuterNR + 8, b1);
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m256 ar = _mm256_broadcast_ss(a + r * a_rs);
      acc0[r] = _mm256_fmadd_ps(ar, b0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(ar, b1, acc1[r]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    float* c = p.c + (i + r) * p.ldc + j;
    __m256 v0 = acc0[r], v1 = acc1[r];
    if (!first) {
      v0 = _mm256_add_ps(load8<kFull>(c, m0), v0);
      v1 = _mm256_add_ps(load8<kFull>(c + 8, m1), v1);
    }
    if (last) {
      v0 = finish8<kFull>(v0, p.ep, i + r, j, m0);
      v1 = finish8<kFull>(v1, p.ep, i + r, j + 8, m1);
    }
    store8<kFull>(c, v0, m0);
    store8<kFull>(c + 8, v1, m1);
  }
}

// Rows [i0, i1) of one 16-column panel; its last whole tile fetches the next panel where there is one. A whole
// panel of two tiles or more read in place: the first tile copies B to o.b_copy, and the others read the copy.
template <bool kFull>
void outer_panel(const Problem& p, const Operands& o, int64_t kn, int64_t i0, int64_t i1, int64_t j, bool first,
                 bool last, __m256i m0, __m256i m1) {
  int64_t i = i0;
  const float* a = o.a;
  const float* b = o.b;
  int64_t ldb = o.ldb;
  if (kFull && o.b_copy && i1 - i0 >= 2 * kOuterMR) {
    outer_tile<kOuterMR, kFull, false, true>(p, a, o.a_rs, o.a_cs, b, ldb, kn, i, j, first, last, m0, m1, nullptr, 0,
                                             o.b_copy);
    i += kOuterMR, a += o.tile_step, b = o.b_copy, ldb = kOuterNR;
  }
  for (; i + kOuterMR <= i1; i += kOuterMR, a += o.tile_step) {
    if (o.b_next && i + 2 * kOuterMR > i1) {
      outer_tile<kOuterMR, kFull, true>(p, a, o.a_rs, o.a_cs, b, ldb, kn, i, j, first, last, m0, m1, o.b_next, o.ldb);
    } else {
      outer_tile<kOuterMR, kFull>(p, a, o.a_rs, o.a_cs, b, ldb, kn, i, j, first, last, m0, m1);
    }
  }
#define MINITORCH_CLF_EDGE(R) outer_tile<R, kFull>(p, a, o.a_rs, o.a_cs, o.b, o.ldb, kn, i, j, first, last, m0, m1)
  switch (i1 - i) {
    case 5: MINITORCH_CLF_EDGE(5); break;
    case 4: MINITORCH_CLF_EDGE(4); break;
    case 3: MINITORCH_CLF_EDGE(3); break;
    case 2: MINITORCH_CLF_EDGE(2); break;
    case 1: MINITORCH_CLF_EDGE(1); break;
    default: break;
  }
#undef MINITORCH_CLF_EDGE
}

// Sum of the 8 lanes of each of 4 vectors -> the 4 sums in order.
inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 ab = _mm256_hadd_ps(a, b), cd = _mm256_hadd_ps(c, d);
  const __m256 abcd = _mm256_hadd_ps(ab, cd);   // [a b c d | a b c d] partial sums of each 128-bit half
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// One vector's sum, added in hsum4's order: an element's result does not depend on its tile's width.
inline float hsum(__m256 v) { return _mm_cvtss_f32(hsum4(v, v, v, v)); }

// C[i:i+R, j:j+S] = sum over all of K of A[i+r, :] · Bᵀ[j+s, :], then the epilogue.
template <int R, int S>
void dot_tile(const Problem& p, int64_t i, int64_t j, __m256i k_tail) {
  __m256 acc[R][S];
#pragma GCC unroll 3
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int s = 0; s < S; ++s) acc[r][s] = _mm256_setzero_ps();
  const int64_t lda = p.a.rs, ldb = p.b.cs, K = p.K;
  const float* a = p.a.data + i * lda;
  const float* b = p.b.data + j * ldb;
  auto step = [&](int64_t k, auto full) {
    constexpr bool kFull = decltype(full)::value;
    __m256 av[R];
#pragma GCC unroll 3
    for (int r = 0; r < R; ++r) av[r] = load8<kFull>(a + r * lda + k, k_tail);
#pragma GCC unroll 4
    for (int s = 0; s < S; ++s) {
      const __m256 bv = load8<kFull>(b + s * ldb + k, k_tail);
#pragma GCC unroll 3
      for (int r = 0; r < R; ++r) acc[r][s] = _mm256_fmadd_ps(av[r], bv, acc[r][s]);
    }
  };
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) step(k, std::true_type{});
  if (k < K) step(k, std::false_type{});
#pragma GCC unroll 3
  for (int r = 0; r < R; ++r) {
    float* c = p.c + (i + r) * p.ldc + j;
    if constexpr (S == 4) {
      _mm_storeu_ps(c, finish4(hsum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]), p.ep, i + r, j));
    } else {
      for (int s = 0; s < S; ++s) c[s] = finish(hsum(acc[r][s]), p.ep, i + r, j + s);
    }
  }
}

template <int S>
void dot_row_strip(const Problem& p, int64_t i0, int64_t i1, int64_t j, __m256i k_tail) {
  int64_t i = i0;
  for (; i + kDotMR <= i1; i += kDotMR) dot_tile<kDotMR, S>(p, i, j, k_tail);
  if (i1 - i == 2) dot_tile<2, S>(p, i, j, k_tail);
  if (i1 - i == 1) dot_tile<1, S>(p, i, j, k_tail);
}

}  // namespace

// The outer kernel's pieces for gemm_outer_block.h's loop. Packing thresholds: A packed for shares of
// 16 panels and more, B read in place below 16 tiles of rows.
struct Avx2Outer {
  static constexpr int64_t kMR = kOuterMR, kNR = kOuterNR;
  static constexpr int64_t kPackAMinCols = 16 * kOuterNR, kPackBMinRows = 16 * kOuterMR;
  static void pack_b(const View& b, int64_t j, int64_t cols, int64_t k0, int64_t k1, float* out) {
    gemm::pack_b(b, j, cols, k0, k1, out);
  }
  static void panel(const Problem& p, const Operands& o, int64_t kn, int64_t i0, int64_t i1, int64_t j, int64_t cols,
                    bool first, bool last) {
    if (cols == kOuterNR) outer_panel<true>(p, o, kn, i0, i1, j, first, last, lanes(8), lanes(8));
    else outer_panel<false>(p, o, kn, i0, i1, j, first, last, lanes(cols), lanes(cols - 8));
  }
};

void outer_block_avx2(const Problem& p, const Block& blk) { outer_block<Avx2Outer>(p, blk); }

// Rows of A in blocks that fill half of L2 (dot_row_block, gemm.h): one block of A stays in L2 while
// 4-row strips of Bᵀ pass through L1 against it, strip after strip.
void dot_block_avx2(const Problem& p, const Block& blk) {
  const int64_t row_block = dot_row_block(kDotMR, p.K, caches());
  const __m256i k_tail = lanes(p.K % 8);
  for (int64_t ib = blk.i0; ib < blk.i1; ib += row_block) {
    const int64_t ie = ib + row_block < blk.i1 ? ib + row_block : blk.i1;
    int64_t j = blk.j0;
    for (; j + kDotNR <= blk.j1; j += kDotNR) dot_row_strip<4>(p, ib, ie, j, k_tail);
    switch (blk.j1 - j) {
      case 3: dot_row_strip<3>(p, ib, ie, j, k_tail); break;
      case 2: dot_row_strip<2>(p, ib, ie, j, k_tail); break;
      case 1: dot_row_strip<1>(p, ib, ie, j, k_tail); break;
      default: break;
    }
  }
}

}  // namespace minitorch_clf::gemm

#pragma GCC pop_options
