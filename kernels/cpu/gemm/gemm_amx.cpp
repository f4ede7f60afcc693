// bfloat16 products with float32 accumulation on AMX tiles (Intel Sapphire Rapids and later): the same
// sums as gemm_bf16.cpp's vdpbf16ps kernel - functional.round_to(a, 'bf16') @ round_to(b, 'bf16') - from
// an engine that does a 16 x 16 x 32 block of multiply-adds per instruction. Built for AMX by the target
// pragma below, called only after gemm.cpp has asked the CPU and Linux (cpu_has_amx_bf16).
//
// The tiles. A tile register holds up to 16 rows of 64 bytes; the tile configuration (loaded per thread,
// ldtilecfg) fixes each one's shape. tdpbf16ps C, A, B reads
//   A: 16 rows x 16 pairs   A[m][q] = (a[m][2q], a[m][2q+1])        - row m, 32 values of k
//   B: 16 rows x 16 pairs   B[q][n] = (b[2q][n], b[2q+1][n])        - k-pair q, 16 columns
// and adds to C (16 x 16 float32) C[m][n] += sum_q a[m][2q] b[2q][n] + a[m][2q+1] b[2q+1][n]: the products
// exact in float32, the sums rounded to nearest even; denormal inputs read as zero and denormal sums
// flushed to zero (Intel's SDM): below 1.2e-38, where functional.round_to keeps them.
// B's layout is gemm_bf16.cpp's packed panel (k-pairs of 32 columns: two B tiles side by side, row stride
// 128 bytes); A's is new: each row its k-pairs in order, rows padded to 32 and k to 32 with zeros.
// Eight tile registers make a 32 x 32 block of C: tiles 0-3 accumulate C, 4-5 hold two A tiles (rows
// g..g+15, g+16..g+31), 6-7 two B tiles (columns j..j+15, j+16..j+31); per 32 values of k, 4 loads feed
// 4 tdpbf16ps (32 768 multiply-adds). After the last K block the sums go through a 4 KiB float32
// scratch to store_tile, the AVX-512 kernels' epilogue (bias, activation, backprop through the layer
// below); between K blocks a whole block stays in the tiles (block32).
// An operand paired ahead (View::pairs, Bf16Pairs::pair below) is not packed: its tiles load straight
// from the pairs, A's rows pairs_ld apart, B's from its panels (pairs_ld apart) as from the packed ones.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include <omp.h>

#include "gemm_kernels.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512bf16,fma,amx-tile,amx-bf16")
#include "gemm_avx512_common.h"
#include "gemm_bf16_pack.h"

namespace minitorch_clf::gemm {
namespace {

constexpr int64_t kTile = 16;               // rows of a tile, pairs of k in a tile row
constexpr int64_t kBlockC = 2 * kTile;      // the 32 x 32 block of C in tiles 0-3
// k per K block, about: 128 pairs, so a 32-row group of A and a 32-column panel of B are 16 KiB each and
// both stay in L1 (48 KiB on Sapphire Rapids) while the group's blocks are computed. Measured on the
// 2-core Xeon (2026-12-05, the bf16 step at batch 1024, benchmarks/RESULTS.md): 256 with this loop order
// ~810 us; 128: ~840; 512: 850-1240; 1024: 865-1150; panels outer instead of row groups outer: 840-950;
// and once the blocks stayed in the tiles between K blocks, 256: 763-785 us; 384: 777-874; 160: 813-1187.
constexpr int64_t kBlockK = 256;

// ldtilecfg's 64-byte operand, palette 1: every tile used is 16 rows of 64 bytes.
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
  TileConfig() {
    for (int t = 0; t < 8; ++t) colsb[t] = 64, rows[t] = kTile;
  }
};

// A, rows [i0, i0 + rows) x k [k0, k1), as rows of kq pairs (kq a multiple of 16) lda apart:
// out[r * lda + q]. The rows up to a multiple of 32 and the pairs past k1 are zero.
void pack_a_rows(const View& a, int64_t i0, int64_t rows, int64_t k0, int64_t k1, int64_t kq, int64_t lda,
                 uint32_t* out) {
  const int64_t kn = k1 - k0, padded = (rows + kBlockC - 1) / kBlockC * kBlockC;
  const float* src = a.data + i0 * a.rs + k0 * a.cs;
  std::memset(out + rows * lda, 0, sizeof(uint32_t) * (padded - rows) * lda);
  if (a.cs == 1) {                       // rows contiguous along k: 32 floats -> 16 pairs, in order
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < 2 * kq; k += 32)
        _mm512_storeu_ps(out + r * lda + k / 2, line_pairs(src + r * a.rs + k, kn - k));
  } else if (a.rs == 1) {                // contiguous along the rows: pairs of k-rows, 16 x 16 transposed
    for (int64_t r0 = 0; r0 < rows; r0 += 16) {
      const int64_t count = std::min<int64_t>(16, rows - r0);
      const __mmask16 m = lanes16(count);
      for (int64_t q0 = 0; q0 < kq; q0 += 16) {
        __m512 t[16];
#pragma GCC unroll 16
        for (int q = 0; q < 16; ++q) {   // t[q] lane l: (row r0 + l, pair q0 + q)
          const int64_t k = 2 * (q0 + q);
          const __m512 even = k < kn ? _mm512_maskz_loadu_ps(m, src + r0 + k * a.cs) : _mm512_setzero_ps();
          const __m512 odd = k + 1 < kn ? _mm512_maskz_loadu_ps(m, src + r0 + (k + 1) * a.cs) : _mm512_setzero_ps();
          t[q] = _mm512_castsi512_ps(pairs16(even, odd));
        }
        transpose16(t);                  // t[l] lane q: (row r0 + l, pair q0 + q)
        for (int64_t l = 0; l < count; ++l) _mm512_storeu_ps(out + (r0 + l) * lda + q0, t[l]);
      }
    }
  } else {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t q = 0; q < kq; ++q) {
        const int64_t k = 2 * q;
        out[r * lda + q] = k >= kn ? 0u : pair_of(src[r * a.rs + k * a.cs], k + 1 < kn ? src[r * a.rs + (k + 1) * a.cs] : 0.0f);
      }
  }
}

// C[i.., j..] (+)= the 32 x 32 block of A's rows at `a` (lda pairs apart) times the B panel at `b`, over
// kq pairs; `rows` and `cols` say how much of the block is C. A whole block between K blocks never
// leaves the tiles for the vector registers: the tiles start from C's partial sums (tileloadd) and go
// back to C (tilestored). Only the last K block, and the edges, pass through the scratch to store_tile
// (the epilogue): the bf16 step at batch 1024 went from ~810 to 781-789 us with it, 763-785 with the
// even K blocks of outer_block_amx too (RESULTS.md).
void block32(const Problem& p, const uint32_t* a, int64_t lda, const uint32_t* b, int64_t kq, int64_t i, int64_t j,
             int64_t rows, int64_t cols, bool first, bool last) {
  const bool whole = rows == kBlockC && cols == kBlockC;
  float* c = p.c + i * p.ldc + j;
  const int64_t ldc = p.ldc * 4;
  if (whole && !first) {
    _tile_loadd(0, c, ldc);
    _tile_loadd(1, c + kTile, ldc);
    _tile_loadd(2, c + kTile * p.ldc, ldc);
    _tile_loadd(3, c + kTile * p.ldc + kTile, ldc);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  const int64_t a_stride = lda * 4, b_stride = kPairNR * 4;
  for (int64_t q = 0; q < kq; q += kTile) {
    _tile_loadd(4, a + q, a_stride);
    _tile_loadd(5, a + kTile * lda + q, a_stride);
    _tile_loadd(6, b + q * kPairNR, b_stride);
    _tile_loadd(7, b + q * kPairNR + kTile, b_stride);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  if (whole && !last) {
    _tile_stored(0, c, ldc);
    _tile_stored(1, c + kTile, ldc);
    _tile_stored(2, c + kTile * p.ldc, ldc);
    _tile_stored(3, c + kTile * p.ldc + kTile, ldc);
    return;
  }
  alignas(64) float sums[kBlockC * kBlockC];
  constexpr int64_t ld = kBlockC * 4;
  _tile_stored(0, sums, ld);
  _tile_stored(1, sums + kTile, ld);
  _tile_stored(2, sums + kTile * kBlockC, ld);
  _tile_stored(3, sums + kTile * kBlockC + kTile, ld);
  const bool fresh = first || whole;       // whole: C's partial sums are in the tiles already
  const __mmask16 m0 = lanes16(cols), m1 = lanes16(cols - 16);
  for (int64_t r = 0; r < rows; ++r) {
    const __m512 s0 = _mm512_load_ps(sums + r * kBlockC), s1 = _mm512_load_ps(sums + r * kBlockC + kTile);
    if (cols > 16) store_tile<1, 2>(p, &s0, &s1, i + r, j, fresh, last, m0, m1);
    else store_tile<1, 1>(p, &s0, &s1, i + r, j, fresh, last, m0, m1);
  }
}

}  // namespace

// The GotoBLAS loop of outer_block_bf16 with AMX tiles: per K block, the share's B panels once; per
// block of rows (half of L2), its rows packed; then, per group of 32 rows (held in L1), every 32 x 32
// block of C along the panels. An operand with pairs (View::pairs) skips its packing.
void outer_block_amx(const Problem& p, const Block& blk) {
  static const TileConfig config;
  _tile_loadconfig(&config);             // per thread, per call: other code (oneDNN) may have configured the tiles
  // K in blocks of about kBlockK, as even as multiples of 32 allow (K = 784: 288, 288, 208 rather than
  // 256, 256, 256, 16: a K block costs a pass over C whatever its depth).
  const int64_t blocks = std::max<int64_t>(1, (p.K + kBlockK / 2) / kBlockK);
  const int64_t k_block = ((p.K + blocks - 1) / blocks + 2 * kTile - 1) / (2 * kTile) * (2 * kTile);
  // A's rows kq_max + 16 pairs apart: a power-of-two stride would put a tile's 16 rows in 2 sets of L1.
  const int64_t kq_max = k_block / 2, lda_max = kq_max + kTile;
  const bool a_paired = p.a.pairs != nullptr, b_paired = p.b.pairs != nullptr;
  const int64_t row_block = a_paired ? blk.i1 - blk.i0           // nothing to pack: one block
                                     : std::max<int64_t>(kBlockC, caches().l2 / 2 / (lda_max * 4) / kBlockC * kBlockC);
  thread_local std::vector<uint32_t> apack, bpack;
  const int64_t panels = (blk.j1 - blk.j0 + kPairNR - 1) / kPairNR;
  const int64_t rows_max = std::min(row_block, blk.i1 - blk.i0);
  if (!a_paired) apack.resize(static_cast<size_t>((rows_max + kBlockC - 1) / kBlockC * kBlockC * lda_max));
  if (!b_paired) bpack.resize(static_cast<size_t>(panels * kq_max * kPairNR));
  for (int64_t k0 = 0; k0 < p.K; k0 += k_block) {
    const int64_t k1 = std::min(p.K, k0 + k_block), kp = (k1 - k0 + 1) / 2, kq = (kp + kTile - 1) / kTile * kTile;
    const bool first = k0 == 0, last = k1 == p.K;
    // Panel t of this K block: columns blk.j0 + 32 t ..
    const auto panel = [&](int64_t t) {
      return b_paired ? p.b.pairs + (blk.j0 / kPairNR + t) * p.b.pairs_ld + k0 / 2 * kPairNR : bpack.data() + t * kq * kPairNR;
    };
    for (int64_t t = 0; t < panels && !b_paired; ++t) {
      const int64_t j = blk.j0 + t * kPairNR;
      uint32_t* out = bpack.data() + t * kq * kPairNR;
      pack_b(p.b, j, std::min(kPairNR, blk.j1 - j), k0, k1, out);
      std::memset(out + kp * kPairNR, 0, sizeof(uint32_t) * (kq - kp) * kPairNR);
    }
    const int64_t lda = a_paired ? p.a.pairs_ld : kq + kTile;
    for (int64_t ib = blk.i0; ib < blk.i1; ib += row_block) {
      const int64_t ie = std::min(blk.i1, ib + row_block);
      // Row ib of A's pairs in this K block.
      const uint32_t* a = a_paired ? p.a.pairs + ib * lda + k0 / 2 : apack.data();
      if (!a_paired) pack_a_rows(p.a, ib, ie - ib, k0, k1, kq, lda, apack.data());
      for (int64_t i = ib; i < ie; i += kBlockC) {
        for (int64_t t = 0; t < panels; ++t) {
          const int64_t j = blk.j0 + t * kPairNR, cols = std::min(kPairNR, blk.j1 - j);
          block32(p, a + (i - ib) * lda, lda, panel(t), kq, i, j, std::min(kBlockC, ie - i), cols, first, last);
        }
      }
    }
  }
  _tile_release();
}

void Bf16Pairs::pair(const float* x, int64_t rows, int64_t cols, int64_t ld) {
  x_ = x, ld_ = ld;
  // As A: rows to a multiple of 32 (a block32 reads two 16-row tiles), pairs to a multiple of 16, and 16
  // more as outer_block_amx's lda. As B: columns to 32 (whole panels), pairs to a multiple of 16 (a tile's rows).
  const int64_t row_pairs = ((cols + 1) / 2 + kTile - 1) / kTile * kTile, padded_rows = (rows + kBlockC - 1) / kBlockC * kBlockC;
  const int64_t column_pairs = ((rows + 1) / 2 + kTile - 1) / kTile * kTile, padded_cols = (cols + kBlockC - 1) / kBlockC * kBlockC;
  row_ld_ = row_pairs + kTile, column_ld_ = column_pairs * kPairNR;
  by_row_.resize(static_cast<size_t>(padded_rows * row_ld_));
  by_column_.resize(static_cast<size_t>(padded_cols / kPairNR * column_ld_));
  uint32_t* by_row = by_row_.data();
  uint32_t* by_column = by_column_.data();
  const int64_t row_ld = row_ld_, column_ld = column_ld_;
  const int T = rows * cols >= (1 << 16) && !omp_in_parallel() ? omp_get_max_threads() : 1;
  // Rows 2q and 2q + 1 at once (column_pairs <= padded_rows / 2): their 32 floats at a time give 16 pairs of
  // each row (as A) and 32 pairs across the two (as B). Rows past the end read as zero.
#pragma omp parallel for num_threads(T) schedule(static)
  for (int64_t q = 0; q < padded_rows / 2; ++q) {
    const float* r0 = x + 2 * q * ld;
    const float* r1 = r0 + ld;
    const bool has0 = 2 * q < rows, has1 = 2 * q + 1 < rows;
    uint32_t* a0 = by_row + 2 * q * row_ld;
    uint32_t* a1 = a0 + row_ld;
    uint32_t* b = q < column_pairs ? by_column + q * kPairNR : nullptr;   // panel c / 32 at b + c / 32 * column_ld
    for (int64_t c = 0; c < padded_cols; c += kBlockC) {
      const __mmask16 m0 = lanes16(cols - c), m1 = lanes16(cols - c - 16);
      const __m512 lo0 = has0 ? _mm512_maskz_loadu_ps(m0, r0 + c) : _mm512_setzero_ps();
      const __m512 hi0 = has0 ? _mm512_maskz_loadu_ps(m1, r0 + c + 16) : _mm512_setzero_ps();
      const __m512 lo1 = has1 ? _mm512_maskz_loadu_ps(m0, r1 + c) : _mm512_setzero_ps();
      const __m512 hi1 = has1 ? _mm512_maskz_loadu_ps(m1, r1 + c + 16) : _mm512_setzero_ps();
      _mm512_storeu_ps(a0 + c / 2, (__m512)_mm512_cvtne2ps_pbh(hi0, lo0));
      _mm512_storeu_ps(a1 + c / 2, (__m512)_mm512_cvtne2ps_pbh(hi1, lo1));
      if (b) {
        _mm512_storeu_si512(b + c / kPairNR * column_ld, pairs16(lo0, lo1));
        _mm512_storeu_si512(b + c / kPairNR * column_ld + 16, pairs16(hi0, hi1));
      }
    }
    std::memset(a0 + padded_cols / 2, 0, sizeof(uint32_t) * (row_ld - padded_cols / 2));
    std::memset(a1 + padded_cols / 2, 0, sizeof(uint32_t) * (row_ld - padded_cols / 2));
  }
}

}  // namespace minitorch_clf::gemm

#pragma GCC pop_options
