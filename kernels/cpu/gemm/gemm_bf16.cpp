// bfloat16 products with float32 accumulation on AVX512-BF16 (gemm.h's Format::kBf16): what
// functional.round_to(a, 'bf16') @ round_to(b, 'bf16') computes, at twice the multiply-adds per
// instruction. Built for AVX512-BF16 by the target pragma below, called only after gemm.cpp has asked
// the CPU (cpu_has_avx512bf16).
//
// vdpbf16ps takes bf16 values in pairs along k: lane i of its two sources holds (x[2q], x[2q+1]) in
// the low and high halves of a dword, and it adds x[2q]·y[2q] + x[2q+1]·y[2q+1] into lane i's float32
// sum (the products are exact in float32; the instruction treats bf16 denormals as zero, and the
// conversion flushes float32 denormals to zero - seen on Zen 4 - where functional.round_to keeps
// them: the two differ only below 1.2e-38). So both
// operands are packed, always, converted to bf16 (round to nearest even) and paired along k:
//   apack[(t * kp + q) * MR + r] = (A[i0 + MR t + r, k0 + 2q], A[.., k0 + 2q + 1])     (0 past the edges)
//   bpack[(t * kp + q) * NR + c] = (B[k0 + 2q, j0 + NR t + c], B[k0 + 2q + 1, ..])
// with kp = ceil(kn / 2) pairs in a K block. The tile is the float32 AVX-512 kernel's, 8 x 32 in 16
// zmm accumulators: per pair of k, 2 loads of B and 8 broadcasts of A feed 16 vdpbf16ps, 32 k-products
// per lane pair. The epilogue (bias, activation, backprop through the layer below) is the same
// finish16 on the float32 sums.
// Packing, by layout: a line contiguous along k (A = x, B = Wᵀ) converts 32 floats to 16 ready pairs
// (vcvtne2ps2bf16 keeps them in order) and transposes 16 such lines in registers; a matrix contiguous
// along the other index (A = dzᵀ, B = x or W) pairs two k-rows lane by lane; any other strides go
// element by element (the same rounding, written out). A's tiles are MR = 8 rows, half a vector: they
// are packed two at a time, 16 lines a pass, the low half of each vector to one tile and the high half
// to the next. Packed a tile at a time (until 2026-12-07), half of every transpose and pairing was
// zeros; two at a time, with pairs16's two operations for its six, the eight products of a step took
// about 2% less time on the Zen 4 at batch 64, 256 and 1024, the dW products (both operands paired lane
// by lane) 1-9% less (benchmarks/RESULTS.md, twenty-ninth session). On that CPU the packing is about a
// tenth of fc1's products at 1024; without it their tiles run at 96% of the vdpbf16ps peak.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gemm_kernels.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512bf16,fma")
#include "gemm_avx512_common.h"
#include "gemm_bf16_pack.h"

namespace minitorch_clf::gemm {
namespace {

constexpr int64_t MR = kOuter512MR, NR = kOuter512NR;
constexpr int64_t kBlockK = 512;     // k per packed B panel: 256 pairs x 32 columns = 32 KiB

// Two MR-row tiles' panels from one pass over 16 lines (rows of A, pack_lines_each or pack_rows_each): lanes 0-7 of
// each 16-lane vector to the first tile's panel (out0), lanes 8-15 to the second's (out1; not written where the
// second has no rows). The lanes past the lines are zero, so a short tile's panel is filled whole, with no memset.
static_assert(MR == 8, "two tiles' rows make one 16-lane vector");

struct TilePairStore {
  uint32_t *out0, *out1;
  bool second;
  void operator()(int64_t q, __m512 v) const {
    const __m512d d = _mm512_castps_pd(v);
    _mm256_storeu_pd(reinterpret_cast<double*>(out0 + q * MR), _mm512_castpd512_pd256(d));
    if (second) _mm256_storeu_pd(reinterpret_cast<double*>(out1 + q * MR), _mm512_extractf64x4_pd(d, 1));
  }
};

// fill: A's pairs as B as well (A contiguous along k, i0 even, k0 a multiple of 32), or nullptr.
void pack_a(const View& a, int64_t i0, int64_t i1, int64_t k0, int64_t k1, uint32_t* __restrict__ out,
            Bf16Pairs* fill) {
  const int64_t kn = k1 - k0, kp = (kn + 1) / 2;
  if (a.cs == 1 || a.rs == 1) {
    for (int64_t t = 0; i0 + t * MR < i1; t += 2) {
      const int64_t i = i0 + t * MR, lines = std::min(2 * MR, i1 - i);
      const float* src = a.data + i * a.rs + k0 * a.cs;
      uint32_t* panel = out + t * kp * MR;
      const TilePairStore store{panel, panel + kp * MR, lines > MR};
      if (a.cs == 1) {   // rows of x or h: their pairs along k transposed; their pairs as B too where filled
        uint32_t* pairs = fill ? fill->out() + k0 / kPairNR * fill->out_ld() + i / 2 * kPairNR : nullptr;
        pack_lines_each(src, a.rs, lines, kn, store, pairs, fill ? fill->out_ld() : 0);
      } else {           // dzᵀ: 16 consecutive floats of each k-row, paired lane by lane
        pack_rows_each(src, a.cs, lines, kn, store);
      }
    }
    return;
  }
  for (int64_t t = 0; i0 + t * MR < i1; ++t) {
    const int64_t i = i0 + t * MR, rows = std::min(MR, i1 - i);
    uint32_t* panel = out + t * kp * MR;
    if (rows < MR) std::memset(panel, 0, sizeof(uint32_t) * kp * MR);
    const float* src = a.data + i * a.rs + k0 * a.cs;
    for (int64_t q = 0; q < kp; ++q)
      for (int64_t r = 0; r < rows; ++r)
        panel[q * MR + r] = pair_of(src[r * a.rs + 2 * q * a.cs], 2 * q + 1 < kn ? src[r * a.rs + (2 * q + 1) * a.cs] : 0.0f);
  }
}

// C[i:i+R, j:j+16V] (+)= the packed A tile · the packed B panel, over kp pairs of k.
template <int R, int V>
void tile(const Problem& p, const uint32_t* a, const uint32_t* b, int64_t kp, int64_t i, int64_t j, bool first,
          bool last, __mmask16 m0, __mmask16 m1) {
  __m512 acc0[R], acc1[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (int64_t q = 0; q < kp; ++q, a += MR, b += NR) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b);
    const __m512bh b1 = V == 1 ? b0 : (__m512bh)_mm512_loadu_si512(b + 16);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512bh ar = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[r]));
      acc0[r] = _mm512_dpbf16_ps(acc0[r], ar, b0);
      if (V == 2) acc1[r] = _mm512_dpbf16_ps(acc1[r], ar, b1);
    }
  }
  store_tile<R, V>(p, acc0, acc1, i, j, first, last, m0, m1);
}

// The last rows of a panel, fewer than MR: tile<R> for R = rows.
template <int R, int V>
void edge(const Problem& p, const uint32_t* a, const uint32_t* b, int64_t kp, int64_t i, int64_t j, int64_t rows,
          bool first, bool last, __mmask16 m0, __mmask16 m1) {
  if constexpr (R > 0) {
    if (rows == R) return tile<R, V>(p, a, b, kp, i, j, first, last, m0, m1);
    edge<R - 1, V>(p, a, b, kp, i, j, rows, first, last, m0, m1);
  }
}

template <int V>
void panel(const Problem& p, const uint32_t* a, const uint32_t* b, int64_t kp, int64_t i0, int64_t i1, int64_t j,
           bool first, bool last, __mmask16 m0, __mmask16 m1) {
  int64_t i = i0;
  for (; i + MR <= i1; i += MR, a += kp * MR) tile<MR, V>(p, a, b, kp, i, j, first, last, m0, m1);
  if (i < i1) edge<MR - 1, V>(p, a, b, kp, i, j, i1 - i, first, last, m0, m1);
}

}  // namespace

// The GotoBLAS loop of gemm_outer_block.h with both operands packed: per K block, the share's B panels once; per
// block of rows (half of L2), its A block; then every tile. B with pairs (View::pairs: the forward's Wᵀ paired once
// for both threads, or a layer's input paired as B by its forward) is read from them, unpacked, in the pairs' own
// panels of 32 columns (a share that starts mid-panel takes that panel's last 16); A with a fill is paired as B by
// the share that holds C's first columns, which packs every row of its share once.
void outer_block_bf16(const Problem& p, const Block& blk) {
  const int64_t row_block = std::max<int64_t>(MR, caches().l2 / 2 / (kBlockK * 2) / MR * MR);
  thread_local LineVector<uint32_t> apack, bpack;
  const bool b_paired = p.b.pairs != nullptr;
  Bf16Pairs* fill = blk.j0 == 0 ? p.a.fill : nullptr;
  const int64_t j_base = b_paired ? blk.j0 / NR * NR : blk.j0;       // panel t starts at j_base + NR t
  const int64_t panels = (blk.j1 - j_base + NR - 1) / NR, kp_max = kBlockK / 2;
  const int64_t rows_max = std::min(row_block, blk.i1 - blk.i0);
  apack.resize(static_cast<size_t>((rows_max + MR - 1) / MR * MR * kp_max));
  if (!b_paired) bpack.resize(static_cast<size_t>(panels * kp_max * NR));
  for (int64_t k0 = 0; k0 < p.K; k0 += kBlockK) {
    const int64_t k1 = std::min(p.K, k0 + kBlockK), kp = (k1 - k0 + 1) / 2;
    const bool first = k0 == 0, last = k1 == p.K;
    for (int64_t t = 0; t < panels && !b_paired; ++t) {
      const int64_t j = blk.j0 + t * NR;
      pack_b(p.b, j, std::min(NR, blk.j1 - j), k0, k1, bpack.data() + t * kp * NR);
    }
    for (int64_t ib = blk.i0; ib < blk.i1; ib += row_block) {
      const int64_t ie = std::min(blk.i1, ib + row_block);
      pack_a(p.a, ib, ie, k0, k1, apack.data(), fill);
      for (int64_t t = 0; t < panels; ++t) {
        const int64_t j = std::max(blk.j0, j_base + t * NR), cols = std::min(blk.j1, j_base + (t + 1) * NR) - j;
        const uint32_t* b = b_paired ? p.b.pairs + j / NR * p.b.pairs_ld + k0 / 2 * NR + j % NR
                                     : bpack.data() + t * kp * NR;
        if (cols > 16) panel<2>(p, apack.data(), b, kp, ib, ie, j, first, last, lanes16(cols), lanes16(cols - 16));
        else panel<1>(p, apack.data(), b, kp, ib, ie, j, first, last, lanes16(cols), 0);
      }
    }
  }
}

int64_t pairs_b_ld(int64_t K) { return ((K + 1) / 2 + 15) / 16 * 16 * kPairNR; }

void pair_b(const View& b, int64_t K, int64_t N, uint32_t* out, int T) {
  const int64_t panels = (N + kPairNR - 1) / kPairNR, ld = pairs_b_ld(K);
#pragma omp parallel for num_threads(T) schedule(static)
  for (int64_t t = 0; t < panels; ++t)
    pack_b_tiles(b, t * kPairNR, std::min(kPairNR, N - t * kPairNR), 0, K, ld / kPairNR, out + t * ld);
}

}  // namespace minitorch_clf::gemm

#pragma GCC pop_options
