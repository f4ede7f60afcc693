// The AVX-512 kernels of gemm.h: gemm_avx2.cpp's outer-product and dot-product kernels with 16-wide
// zmm vectors, 32 registers and k-masks. Built for AVX-512F by the target pragma below whatever the compiler flags, and
// called only after gemm.cpp has asked the CPU (cpu_has_avx512f).
//
// An 8 x 32 tile of C lives in 16 zmm registers; each k broadcasts 8 values of A's column k and loads
// 32 of B's row k:
//     acc[r][0:16] += A[i+r, k] * B[k, j:j+16]        acc[r][16:32] += A[i+r, k] * B[k, j+16:j+32]
// 16 FMAs for 2 loads and 8 broadcasts; 8 rows divide the batch sizes of SimpleNet's step. 12 and 14
// rows (24 and 28 accumulators) measured the same within the noise of this VM (benchmarks/RESULTS.md).
// A panel of at most 16 columns (fc3's N = 10, a thread's last half panel) runs an 8 x 16 tile: half
// the FMAs of a masked 8 x 32 one. Edges use the k-mask registers (masked loads and stores), packed
// panels are zero-padded, as in the AVX2 kernel. B = Wᵀ (x·Wᵀ: B's columns contiguous) is packed by
// 16 x 16 blocks transposed in registers rather than float by float.
// The loop order and packing rules are gemm_outer_block.h's, shared with the AVX2 kernel.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "gemm_kernels.h"
#include "gemm_outer_block.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,fma")
#include "gemm_avx512_common.h"

namespace minitorch_clf::gemm {
namespace {

constexpr int64_t MR = kOuter512MR, NR = kOuter512NR;

//   bpack[k * NR + c] = B[k0 + k, j + c]                                (0 past cols)
// Three layouts: B's rows contiguous (copies), B's columns contiguous (B = Wᵀ in x·Wᵀ: 16 x 16 blocks
// transposed in registers), neither (element by element).
void pack_b(const View& b, int64_t j, int64_t cols, int64_t k0, int64_t k1, float* __restrict__ out) {
  const float* src = b.data + k0 * b.rs + j * b.cs;
  if (b.rs == 1) {
    const int64_t kn = k1 - k0;
    for (int64_t c0 = 0; c0 < NR; c0 += 16) {
      for (int64_t k = 0; k < kn; k += 16) {
        const __mmask16 m = lanes16(kn - k);
        __m512 r[16];
#pragma GCC unroll 16
        for (int c = 0; c < 16; ++c)
          r[c] = c0 + c < cols ? _mm512_maskz_loadu_ps(m, src + (c0 + c) * b.cs + k) : _mm512_setzero_ps();
        transpose16(r);
        const int64_t rows = std::min<int64_t>(16, kn - k);
        for (int64_t t = 0; t < rows; ++t) _mm512_storeu_ps(out + (k + t) * NR + c0, r[t]);
      }
    }
    return;
  }
  for (int64_t k = k0; k < k1; ++k, src += b.rs, out += NR) {
    if (b.cs == 1) {
      _mm512_storeu_ps(out, _mm512_maskz_loadu_ps(lanes16(cols), src));
      _mm512_storeu_ps(out + 16, _mm512_maskz_loadu_ps(lanes16(cols - 16), src + 16));
    } else {
      for (int64_t c = 0; c < NR; ++c) out[c] = c < cols ? src[c * b.cs] : 0.0f;
    }
  }
}

// C[i:i+R, j:j+16V] (+)= A[i:i+R, k-block] · B[k-block, j:j+16V]; m0, m1 mask the two halves' columns.
// V = 1 for a panel of at most 16 columns (N = 10, or a share's last half panel): half the FMAs.
// kFull: a whole 32-column panel, B's rows load without a mask (the masked loads kept two k-mask
// registers live across the loop, which GCC reloaded from the stack every k: RESULTS.md, 2026-11-27
// late). kFetch: the panel's last tile, where B is read in place and the share has a next panel: each k also
// asks for that k-row of the next panel (b_next, two lines, ld_next apart) in L2 (gemm_outer_block.h says why).
// kCopy: a whole panel's first tile, where B is read in place: each k-row it loads is also stored at
// copy + k * NR, for the panel's other tiles (gemm_outer_block.h says why).
template <int R, int V, bool kFull, bool kFetch = false, bool kCopy = false>
void tile(const Problem& p, const float* a, int64_t a_rs, int64_t a_cs, const float* b, int64_t ldb, int64_t kn,
          int64_t i, int64_t j, bool first, bool last, __mmask16 m0, __mmask16 m1, const float* b_next = nullptr,
          int64_t ld_next = 0, float* copy = nullptr) {
  __m512 acc0[R], acc1[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kn; ++k, a += a_cs, b += ldb) {
    if constexpr (kFetch) {
      _mm_prefetch(reinterpret_cast<const char*>(b_next), _MM_HINT_T1);
      _mm_prefetch(reinterpret_cast<const char*>(b_next + 16), _MM_HINT_T1);
      b_next += ld_next;
    }
    const __m512 b0 = kFull ? _mm512_loadu_ps(b) : _mm512_maskz_loadu_ps(m0, b);
    const __m512 b1 = V == 1 ? b0 : kFull ? _mm512_loadu_ps(b + 16) : _mm512_maskz_loadu_ps(m1, b + 16);
    if constexpr (kCopy) {
      _mm512_store_ps(copy + k * NR, b0);
      _mm512_store_ps(copy + k * NR + 16, b1);
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 ar = _mm512_set1_ps(a[r * a_rs]);
      acc0[r] = _mm512_fmadd_ps(ar, b0, acc0[r]);
      if (V == 2) acc1[r] = _mm512_fmadd_ps(ar, b1, acc1[r]);
    }
  }
  store_tile<R, V>(p, acc0, acc1, i, j, first, last, m0, m1);
}

// The last rows of a panel, fewer than MR: tile<R> for R = rows, found by recursion on R.
template <int R, int V, bool kFull>
void edge(const Problem& p, const Operands& o, const float* a, int64_t kn, int64_t i, int64_t j, int64_t rows,
          bool first, bool last, __mmask16 m0, __mmask16 m1) {
  if constexpr (R > 0) {
    if (rows == R) return tile<R, V, kFull>(p, a, o.a_rs, o.a_cs, o.b, o.ldb, kn, i, j, first, last, m0, m1);
    edge<R - 1, V, kFull>(p, o, a, kn, i, j, rows, first, last, m0, m1);
  }
}

// The panel's tiles; its last whole tile fetches the next panel where there is one (o.b_next). A whole panel of
// two tiles or more read in place: the first tile copies B to o.b_copy, and the others read the copy.
template <int V, bool kFull>
void panel(const Problem& p, const Operands& o, int64_t kn, int64_t i0, int64_t i1, int64_t j, bool first,
           bool last, __mmask16 m0, __mmask16 m1) {
  int64_t i = i0;
  const float* a = o.a;
  const float* b = o.b;
  int64_t ldb = o.ldb;
  if (kFull && o.b_copy && i1 - i0 >= 2 * MR) {
    tile<MR, V, kFull, false, true>(p, a, o.a_rs, o.a_cs, b, ldb, kn, i, j, first, last, m0, m1, nullptr, 0, o.b_copy);
    i += MR, a += o.tile_step, b = o.b_copy, ldb = NR;
  }
  for (; i + MR <= i1; i += MR, a += o.tile_step) {
    if (o.b_next && i + 2 * MR > i1) {
      tile<MR, V, kFull, true>(p, a, o.a_rs, o.a_cs, b, ldb, kn, i, j, first, last, m0, m1, o.b_next, o.ldb);
    } else {
      tile<MR, V, kFull>(p, a, o.a_rs, o.a_cs, b, ldb, kn, i, j, first, last, m0, m1);
    }
  }
  if (i < i1) edge<MR - 1, V, kFull>(p, o, a, kn, i, j, i1 - i, first, last, m0, m1);
}

// The dot-product kernel (x·Wᵀ: both operands contiguous along k), 16 k at a time:
//     acc[r][s] += x[i+r, k:k+16] * W[j+s, k:k+16]     then C[i+r, j+s] = the 16 lanes' sum
// A 4 x 4 tile is 16 zmm registers of partial sums; 8 loads feed 16 FMAs. Each sum is reduced by
// _mm512_reduce_add_ps on its own, so an element's bits do not depend on the tile holding it.
template <int R, int S>
void dot_tile(const Problem& p, int64_t i, int64_t j, __mmask16 k_tail) {
  __m512 acc[R][S];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int s = 0; s < S; ++s) acc[r][s] = _mm512_setzero_ps();
  const int64_t lda = p.a.rs, ldb = p.b.cs, K = p.K;
  const float* a = p.a.data + i * lda;
  const float* b = p.b.data + j * ldb;
  auto step = [&](int64_t k, __mmask16 m) {
    __m512 av[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) av[r] = _mm512_maskz_loadu_ps(m, a + r * lda + k);
#pragma GCC unroll 4
    for (int s = 0; s < S; ++s) {
      const __m512 bv = _mm512_maskz_loadu_ps(m, b + s * ldb + k);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) acc[r][s] = _mm512_fmadd_ps(av[r], bv, acc[r][s]);
    }
  };
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) step(k, 0xFFFF);
  if (k < K) step(k, k_tail);
  // The S sums of row r as the low lanes of one vector, finished by finish16 like the outer kernel's.
  // (A call to the scalar finish per element here, once the epilogue grew past inlining, made the
  // compiler spill the live accumulators around it - every zmm register is caller-saved - and the
  // x·Wᵀ product of batch 1024 ran much slower: benchmarks/RESULTS.md, 2026-11-27, activations.)
  const __mmask16 m = lanes16(S);
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    alignas(64) float sums[16] = {};
#pragma GCC unroll 4
    for (int s = 0; s < S; ++s) sums[s] = _mm512_reduce_add_ps(acc[r][s]);
    _mm512_mask_storeu_ps(p.c + (i + r) * p.ldc + j, m, finish16(_mm512_load_ps(sums), p.ep, i + r, j, m));
  }
}

constexpr int64_t kDot512MR = 4, kDot512NR = 4;

template <int S>
void dot_row_strip(const Problem& p, int64_t i0, int64_t i1, int64_t j, __mmask16 k_tail) {
  int64_t i = i0;
  for (; i + kDot512MR <= i1; i += kDot512MR) dot_tile<kDot512MR, S>(p, i, j, k_tail);
  switch (i1 - i) {
    case 3: dot_tile<3, S>(p, i, j, k_tail); break;
    case 2: dot_tile<2, S>(p, i, j, k_tail); break;
    case 1: dot_tile<1, S>(p, i, j, k_tail); break;
    default: break;
  }
}

}  // namespace

// Rows of A in blocks that fill half of L2 (dot_row_block, gemm.h) while 4-row strips of Bᵀ pass
// through L1.
void dot_block_avx512(const Problem& p, const Block& blk) {
  const int64_t row_block = dot_row_block(kDot512MR, p.K, caches());
  const __mmask16 k_tail = lanes16(p.K % 16);
  for (int64_t ib = blk.i0; ib < blk.i1; ib += row_block) {
    const int64_t ie = std::min(blk.i1, ib + row_block);
    int64_t j = blk.j0;
    for (; j + kDot512NR <= blk.j1; j += kDot512NR) dot_row_strip<4>(p, ib, ie, j, k_tail);
    switch (blk.j1 - j) {
      case 3: dot_row_strip<3>(p, ib, ie, j, k_tail); break;
      case 2: dot_row_strip<2>(p, ib, ie, j, k_tail); break;
      case 1: dot_row_strip<1>(p, ib, ie, j, k_tail); break;
      default: break;
    }
  }
}

// The outer kernel's pieces for gemm_outer_block.h's loop.
struct Avx512Outer {
  static constexpr int64_t kMR = MR, kNR = NR;
  static constexpr int64_t kPackAMinCols = 8 * NR, kPackBMinRows = 12 * MR;
  static void pack_b(const View& b, int64_t j, int64_t cols, int64_t k0, int64_t k1, float* out) {
    minitorch_clf::gemm::pack_b(b, j, cols, k0, k1, out);
  }
  static void panel(const Problem& p, const Operands& o, int64_t kn, int64_t i0, int64_t i1, int64_t j, int64_t cols,
                    bool first, bool last) {
    if (cols == 32) return gemm::panel<2, true>(p, o, kn, i0, i1, j, first, last, lanes16(cols), lanes16(cols - 16));
    if (cols <= 16) return gemm::panel<1, false>(p, o, kn, i0, i1, j, first, last, lanes16(cols), 0);
    gemm::panel<2, false>(p, o, kn, i0, i1, j, first, last, lanes16(cols), lanes16(cols - 16));
  }
};

void outer_block_avx512(const Problem& p, const Block& blk) { outer_block<Avx512Outer>(p, blk); }

}  // namespace minitorch_clf::gemm

#pragma GCC pop_options
