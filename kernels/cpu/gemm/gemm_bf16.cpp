// bfloat16 products with float32 accumulation on AVX512-BF16 (gemm.h's Format::kBf16): what
// functional.round_to(a, 'bf16') @ round_to(b, 'bf16') computes, at twice the multiply-adds per
// instruction. Built for AVX512-BF16 by the target pragma below, called only after gemm.cpp has asked
// the CPU (cpu_has_avx512bf16).
//
// vdpbf16ps takes bf16 values in pairs along k: lane i of its two sources holds (x[2q], x[2q+1]) in
// the low and high halves of a dword, and it adds x[2q]·y[2q] + x[2q+1]·y[2q+1] into lane i's float32
// sum (the products are exact in float32; the instruction treats bf16 denormals as zero, and the
// conversion flushes float32 denormals to zero - seen on Zen 4 - where functional.round_to keeps
// them: the two differ only below 1.2e-38). So both operands are packed, always, converted to bf16
// (round to nearest even) and paired along k, with kp = ceil(kn / 2) pairs in a K block:
//   bpack[(t * kp + q) * NR + c] = (B[k0 + 2q, j0 + NR t + c], B[k0 + 2q + 1, ..])      (0 past the edges)
// and A in one of two layouts:
//   rows         arows[r * kp + q] = (A[i0 + r, k0 + 2q], A[.., k0 + 2q + 1])  16 rows at a time (RowsJob)
//   interleaved  apack[(t * kp + q) * MR + r] = the same pair of row i0 + MR t + r  a row block at a time
// The tile is the float32 AVX-512 kernel's, 8 x 32 in 16 zmm accumulators: per pair of k, 2 loads of B
// and 8 broadcasts of A feed 16 vdpbf16ps, 32 k-products per lane pair; it sums the same products in the
// same order from either layout. The epilogue (bias, activation, backprop through the layer below) is
// the same finish16 on the float32 sums.
// A contiguous along k (x or h in a forward, dz in a dx product) is packed in the rows layout, where 32
// floats of a row convert to its next 16 pairs in order (vcvtne2ps2bf16), and beside the tiles: while the
// tiles of 16 rows run, a unit at a time inside their k loop, the next 16 rows are packed (RowsJob). The
// packing had run between the tiles: on the Zen 4 a tenth of fc1's products at 1024, whose tiles alone ran
// at 96% of the vdpbf16ps peak. Beside them (2026-12-07, in turns in one process, five runs), fc1's forward
// took 0.95-1.00x the time at 256 and 1024, the step 0.97-0.99x at 1024 and 0.97-1.00x at 256, level at 64
// (benchmarks/RESULTS.md, thirtieth session). Other A (dzᵀ in a dW, contiguous along its rows) is packed a
// row block ahead, interleaved: two k-rows paired lane by lane, two tiles a pass (16 lanes); any other
// strides element by element (the same rounding, written out). B contiguous along k (Wᵀ) transposes 16
// lines of pairs in registers; B contiguous along its rows pairs two k-rows lane by lane.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "gemm_kernels.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512bf16,fma")
#include "gemm_avx512_common.h"
#include "gemm_bf16_pack.h"

namespace minitorch_clf::gemm {
namespace {

constexpr int64_t MR = kOuter512MR, NR = kOuter512NR;
constexpr int64_t kBlockK = kBf16BlockK;     // k per packed B panel: 256 pairs x 32 columns = 32 KiB

// Two MR-row tiles' panels (interleaved) from one pass of pack_rows_each over 16 lines: lanes 0-7 of each 16-lane
// vector to the first tile's panel (out0), lanes 8-15 to the second's (out1; not written where the second has no
// rows). The lanes past the lines are zero, so a short tile's panel is filled whole, with no memset.
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

// A block, rows [i0, i1) x k [k0, k1), interleaved (A not contiguous along k: RowsJob packs that A).
void pack_a(const View& a, int64_t i0, int64_t i1, int64_t k0, int64_t k1, uint32_t* __restrict__ out) {
  const int64_t kn = k1 - k0, kp = (kn + 1) / 2;
  if (a.rs == 1) {       // dzᵀ: 16 consecutive floats of each k-row, paired lane by lane
    for (int64_t t = 0; i0 + t * MR < i1; t += 2) {
      const int64_t i = i0 + t * MR, lines = std::min(2 * MR, i1 - i);
      uint32_t* panel = out + t * kp * MR;
      pack_rows_each(a.data + i + k0 * a.cs, a.cs, lines, kn, TilePairStore{panel, panel + kp * MR, lines > MR});
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

// Nothing to do beside the tiles: A packed ahead.
struct NoJob {
  static constexpr bool kRows = false;   // the layout of the A it runs beside: interleaved
  void tick() {}
};

// Up to 16 lines of A contiguous along k, rows [i, i + lines) x k [k0, k0 + kn), packed in the rows layout at
// out (row r's pairs from out + r * kp), a unit at a time: a unit is one pair of lines' 32 k (pair_two_lines: 4
// loads, 2 conversions; 2 stores). With fill (a forward's x, its pairs as B for its dW: View::pairs' layout, fill
// pointing at pair row i / 2, column k0), a unit also stores the 32 pairs across the two lines. tick() runs a unit every
// `every` calls, spread over the ticks the tiles of the rows before make; finish() runs what is left.
class RowsJob {
 public:
  static constexpr bool kRows = true;
  void start(const float* base, int64_t ld, int64_t lines, int64_t kn, uint32_t* out, uint32_t* fill,
             int64_t fill_ld, int64_t ticks) {
    base_ = base, ld_ = ld, lines_ = lines, kn_ = kn, kp_ = (kn + 1) / 2, out_ = out, fill_ = fill, fill_ld_ = fill_ld;
    l_ = 0, k_ = 0, units_ = (lines + 1) / 2 * ((kn + 31) / 32);
    every_ = countdown_ = std::max<int64_t>(1, ticks / std::max<int64_t>(1, units_));
  }
  __attribute__((always_inline)) void tick() {
    if (--countdown_ == 0) {
      countdown_ = every_;
      if (units_ > 0) step();
    }
  }
  void finish() {
    while (units_ > 0) step();
  }

 private:
  // Inlined into the tiles' loop: a call there would spill every zmm accumulator around it (all are
  // caller-saved), which made fc3's products (K = 64 and 10, a unit every 2-4 pairs of k) 1.3x slower.
  __attribute__((always_inline)) void step() {
    const int64_t l = l_, k = k_;
    if ((k_ += 32) >= kn_) k_ = 0, l_ += 2;
    --units_;
    const __mmask16 pairs = lanes16(kp_ - k / 2);
    const float* even = base_ + l * ld_ + k;
    const bool two = l + 1 < lines_;
    __m512i r0, r1;
    pair_two_lines(even, two ? even + ld_ : nullptr, kn_ - k, r0, r1,
                   fill_ ? fill_ + k / kPairNR * fill_ld_ + l / 2 * kPairNR : nullptr);
    _mm512_mask_storeu_epi32(out_ + l * kp_ + k / 2, pairs, r0);
    if (two) _mm512_mask_storeu_epi32(out_ + (l + 1) * kp_ + k / 2, pairs, r1);
  }

  const float* base_ = nullptr;
  int64_t ld_ = 0, lines_ = 0, kn_ = 0, kp_ = 0;
  uint32_t* out_ = nullptr;
  uint32_t* fill_ = nullptr;
  int64_t fill_ld_ = 0, l_ = 0, k_ = 0;          // the next unit: lines l_ and l_ + 1 from k_
  int64_t units_ = 0, every_ = 1, countdown_ = 1;
};

// C[i:i+R, j:j+16V] (+)= the packed A tile · the packed B panel, over kp pairs of k; A's pair q of row r at
// a[r * kp + q] (kRows) or a[q * MR + r] (interleaved). job.tick() once per pair of k.
template <int R, int V, bool kRows, class Job>
void tile(const Problem& p, const uint32_t* a, const uint32_t* b, int64_t kp, int64_t i, int64_t j, bool first,
          bool last, __mmask16 m0, __mmask16 m1, Job& job) {
  __m512 acc0[R], acc1[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  const int64_t row_step = kRows ? kp : 1;
  for (int64_t q = 0; q < kp; ++q, a += kRows ? 1 : MR, b += NR) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b);
    const __m512bh b1 = V == 1 ? b0 : (__m512bh)_mm512_loadu_si512(b + 16);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512bh ar = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[r * row_step]));
      acc0[r] = _mm512_dpbf16_ps(acc0[r], ar, b0);
      if (V == 2) acc1[r] = _mm512_dpbf16_ps(acc1[r], ar, b1);
    }
    job.tick();
  }
  store_tile<R, V>(p, acc0, acc1, i, j, first, last, m0, m1);
}

// The last rows of a panel, fewer than MR: tile<R> for R = rows.
template <int R, int V, bool kRows, class Job>
void edge(const Problem& p, const uint32_t* a, const uint32_t* b, int64_t kp, int64_t i, int64_t j, int64_t rows,
          bool first, bool last, __mmask16 m0, __mmask16 m1, Job& job) {
  if constexpr (R > 0) {
    if (rows == R) return tile<R, V, kRows>(p, a, b, kp, i, j, first, last, m0, m1, job);
    edge<R - 1, V, kRows>(p, a, b, kp, i, j, rows, first, last, m0, m1, job);
  }
}

// Rows [i0, i1) of C's columns [j, j + cols) (cols <= NR): every tile of the packed A against one B panel.
template <bool kRows, class Job>
void panel(const Problem& p, const uint32_t* a, const uint32_t* b, int64_t kp, int64_t i0, int64_t i1, int64_t j,
           int64_t cols, bool first, bool last, Job& job) {
  const __mmask16 m0 = lanes16(cols), m1 = lanes16(cols - 16);
  int64_t i = i0;
  for (; i + MR <= i1; i += MR, a += MR * kp) {
    if (cols > 16) tile<MR, 2, kRows>(p, a, b, kp, i, j, first, last, m0, m1, job);
    else tile<MR, 1, kRows>(p, a, b, kp, i, j, first, last, m0, m1, job);
  }
  if (i == i1) return;
  if (cols > 16) edge<MR - 1, 2, kRows>(p, a, b, kp, i, j, i1 - i, first, last, m0, m1, job);
  else edge<MR - 1, 1, kRows>(p, a, b, kp, i, j, i1 - i, first, last, m0, m1, job);
}

}  // namespace

// The GotoBLAS loop of gemm_outer_block.h with both operands packed: per K block, the share's B panels once; then
// A contiguous along k 16 rows at a time, each group's tiles against every panel while the next group is packed
// beside them (RowsJob); other A a block of rows (half of L2) at a time, packed ahead, then every tile. B with pairs
// (View::pairs: the forward's Wᵀ paired once for both threads, or a layer's input paired as B by its forward) is
// read from them, unpacked, in the pairs' own panels of 32 columns (a share that starts mid-panel takes that
// panel's last 16); A with a fill is paired as B by the share that holds C's first columns, which packs every row
// of its share once.
void outer_block_bf16(const Problem& p, const Block& blk) {
  thread_local LineVector<uint32_t> apack, bpack;
  const bool b_paired = p.b.pairs != nullptr, a_rows = p.a.cs == 1;
  Bf16Pairs* fill = blk.j0 == 0 ? p.a.fill : nullptr;
  const int64_t j_base = b_paired ? blk.j0 / NR * NR : blk.j0;       // panel t starts at j_base + NR t
  const int64_t panels = (blk.j1 - j_base + NR - 1) / NR, kp_max = kBlockK / 2, group = 2 * MR;
  const int64_t row_block = std::max<int64_t>(MR, caches().l2 / 2 / (kBlockK * 2) / MR * MR);
  const int64_t rows_max = a_rows ? 2 * group : (std::min(row_block, blk.i1 - blk.i0) + MR - 1) / MR * MR;
  apack.resize(static_cast<size_t>(rows_max * kp_max));          // a_rows: two groups, the tiles' and the next
  if (!b_paired) bpack.resize(static_cast<size_t>(panels * kp_max * NR));
  for (int64_t k0 = 0; k0 < p.K; k0 += kBlockK) {
    const int64_t k1 = std::min(p.K, k0 + kBlockK), kp = (k1 - k0 + 1) / 2;
    const bool first = k0 == 0, last = k1 == p.K;
    for (int64_t t = 0; t < panels && !b_paired; ++t) {
      const int64_t j = blk.j0 + t * NR;
      pack_b(p.b, j, std::min(NR, blk.j1 - j), k0, k1, bpack.data() + t * kp * NR);
    }
    // Every tile of rows [i0, i1), packed at a, against every panel.
    const auto tiles = [&](const uint32_t* a, int64_t i0, int64_t i1, auto& job) {
      for (int64_t t = 0; t < panels; ++t) {
        const int64_t j = std::max(blk.j0, j_base + t * NR), cols = std::min(blk.j1, j_base + (t + 1) * NR) - j;
        const uint32_t* b = b_paired ? p.b.pairs + j / NR * p.b.pairs_ld + k0 / 2 * NR + j % NR
                                     : bpack.data() + t * kp * NR;
        panel<std::decay_t<decltype(job)>::kRows>(p, a, b, kp, i0, i1, j, cols, first, last, job);
      }
    };
    if (!a_rows) {
      NoJob none;
      for (int64_t ib = blk.i0; ib < blk.i1; ib += row_block) {
        const int64_t ie = std::min(blk.i1, ib + row_block);
        pack_a(p.a, ib, ie, k0, k1, apack.data());
        tiles(apack.data(), ib, ie, none);
      }
      continue;
    }
    // The group of rows from i into buffer `half` of apack, beside `ticks` pairs of k of the tiles (0: now).
    RowsJob job;
    const auto pack_group = [&](int64_t i, int half, int64_t ticks) {
      uint32_t* pairs = fill ? fill->out() + k0 / kPairNR * fill->out_ld() + i / 2 * kPairNR : nullptr;
      job.start(p.a.data + i * p.a.rs + k0, p.a.rs, std::min(group, blk.i1 - i), k1 - k0,
                apack.data() + half * group * kp_max, pairs, fill ? fill->out_ld() : 0, ticks);
    };
    pack_group(blk.i0, 0, 0);
    job.finish();
    for (int64_t ib = blk.i0, half = 0; ib < blk.i1; ib += group, half ^= 1) {
      const int64_t ie = std::min(blk.i1, ib + group);
      if (ie < blk.i1) pack_group(ie, half ^ 1, panels * kp * ((ie - ib + MR - 1) / MR));
      tiles(apack.data() + half * group * kp_max, ib, ie, job);
      job.finish();
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
