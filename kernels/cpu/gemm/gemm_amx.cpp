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
// B paired ahead (View::pairs) is not packed: its tiles load straight from its panels (pairs_ld apart) as
// from the packed ones. A with View::fill (Bf16Pairs) is packed two rows at a time, and the pairs across
// the two rows, x as B, go to the fill's panels on the way.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

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
// fill (A contiguous along k, i0 even): A's pairs as B as well, rows 2q and 2q + 1 -> pair row q of the
// fill's panels, for the columns k0 .. k0 + 2 kq below the fill's padded width (zero past A's).
void pack_a_rows(const View& a, int64_t i0, int64_t rows, int64_t k0, int64_t k1, int64_t kq, int64_t lda,
                 uint32_t* out, Bf16Pairs* fill) {
  const int64_t kn = k1 - k0, padded = (rows + kBlockC - 1) / kBlockC * kBlockC;
  const float* src = a.data + i0 * a.rs + k0 * a.cs;
  std::memset(out + rows * lda, 0, sizeof(uint32_t) * (padded - rows) * lda);
  if (fill) {                            // two rows at a time: 32 floats of each -> 16 pairs along k of
    const int64_t fill_ld = fill->out_ld(), width = fill->padded_cols();   // each, 32 across the two
    for (int64_t r = 0; r < rows; r += 2) {
      const bool has1 = r + 1 < rows;
      const float* r0 = src + r * a.rs;
      const float* r1 = r0 + a.rs;
      uint32_t* b = fill->out() + (i0 + r) / 2 * kPairNR;
      for (int64_t k = 0; k < 2 * kq; k += 32) {
        __m512i along0, along1;
        pair_two_lines(r0 + k, has1 ? r1 + k : nullptr, kn - k, along0, along1,
                       k0 + k < width ? b + (k0 + k) / kPairNR * fill_ld : nullptr);
        _mm512_storeu_si512(out + r * lda + k / 2, along0);
        if (has1) _mm512_storeu_si512(out + (r + 1) * lda + k / 2, along1);
      }
    }
  } else if (a.cs == 1) {                // rows contiguous along k: 32 floats -> 16 pairs, in order
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

// The GotoBLAS loop of outer_block_bf16 with AMX tiles: per K block, the share's B panels once; then per
// group of 32 rows, its rows packed (into L1) and every 32 x 32 block of C along the panels. Packing each
// group just before its blocks, rather than a block of rows half the size of L2 ahead, made the bf16 step
// about 3% faster at batch 1024 on the 2-core Xeon (10 rounds in turns), and it is no slower than before
// at 64-512 (RESULTS.md, 2026-12-05, seventh session).
// B with pairs (View::pairs) skips its packing; A with a fill is paired as B by the share that holds C's
// first columns, which packs every row of its share once.
void outer_block_amx(const Problem& p, const Block& blk) {
  static const TileConfig config;
  _tile_loadconfig(&config);             // per thread, per call: other code (oneDNN) may have configured the tiles
  // K in blocks of about kBlockK, as even as multiples of 32 allow (K = 784: 288, 288, 208 rather than
  // 256, 256, 256, 16: a K block costs a pass over C whatever its depth).
  const int64_t blocks = std::max<int64_t>(1, (p.K + kBlockK / 2) / kBlockK);
  const int64_t k_block = ((p.K + blocks - 1) / blocks + 2 * kTile - 1) / (2 * kTile) * (2 * kTile);
  // A's rows kq_max + 16 pairs apart: a power-of-two stride would put a tile's 16 rows in 2 sets of L1.
  const int64_t kq_max = k_block / 2, lda_max = kq_max + kTile;
  const bool b_paired = p.b.pairs != nullptr;
  Bf16Pairs* fill = blk.j0 == 0 ? p.a.fill : nullptr;
  thread_local LineVector<uint32_t> apack, bpack;
  const int64_t panels = (blk.j1 - blk.j0 + kPairNR - 1) / kPairNR;
  apack.resize(static_cast<size_t>(kBlockC * lda_max));
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
      pack_b_tiles(p.b, j, std::min(kPairNR, blk.j1 - j), k0, k1, kq, bpack.data() + t * kq * kPairNR);
    }
    const int64_t lda = kq + kTile;
    for (int64_t i = blk.i0; i < blk.i1; i += kBlockC) {
      const int64_t rows = std::min(kBlockC, blk.i1 - i);
      pack_a_rows(p.a, i, rows, k0, k1, kq, lda, apack.data(), fill);
      for (int64_t t = 0; t < panels; ++t) {
        const int64_t j = blk.j0 + t * kPairNR, cols = std::min(kPairNR, blk.j1 - j);
        block32(p, apack.data(), lda, panel(t), kq, i, j, rows, cols, first, last);
      }
    }
  }
  _tile_release();
}

}  // namespace minitorch_clf::gemm

#pragma GCC pop_options
