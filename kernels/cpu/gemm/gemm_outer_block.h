// The GotoBLAS loop the outer-product kernels share (gemm_avx2.cpp, gemm_avx512.cpp include it after
// their own pieces, inside their target pragma): for each K block, for each block of rows (A, in L2),
// for each NR-column panel (B, in L1), every MR-row tile. The packing buffers belong to the thread
// and outlive the call.
// Packing pays once a packed element feeds enough FMAs: an element of A feeds one FMA per column of
// the share, one of B one per row of the block. Below the kernel's thresholds (measured on the shapes
// of SimpleNet's step, one thread, benchmarks/RESULTS.md) the operands are read in place; B is packed
// whatever its size when its rows are not contiguous.
// B with contiguous rows is also read in place when its row stride is not a multiple of 256 bytes:
// then the k-rows of a panel fall into different sets of L1 (a stride of s cache lines visits
// 64 / gcd(s, 64) of its 64 sets), and reading them where they are beats copying them first
// (fc1's dW = dzᵀ·x, rows of 784 floats: 49 lines). A power-of-two stride (N = 1024: 4096 bytes)
// piles the rows into a few sets, and there packing wins (RESULTS.md, 2026-11-27 late).
//
// B read in place (x's rows in fc1's dW) is not in L1 when a panel's first tile reads it: its k-rows lie a row
// stride apart, farther than the L1 stride prefetcher follows (2 KB on Intel's cores), and at batch 1024 x is
// larger than L2. So the panel's last tile asks for the next panel's k-rows in L2 while it computes
// (Operands::b_next): on the 2-core Xeon of 2026-12-06, in one process with it switched off in turns, fc1's dW at
// 1024 took 4-5% less time (AVX-512 and AVX2, tuned and derived plans), at 256 1-5% less, at 64 the same
// (benchmarks/RESULTS.md, fourteenth session).
// Read in place, a panel's k-rows also lie on many pages: at x's stride of 3,136 bytes the 192 k-rows of a K block
// span 147 pages of 4 KB, more than an L1 data TLB holds, and every tile of the panel read them all again. Where
// they span more than kCopyMinBytes, the panel's first tile copies the k-rows it loads into a line-aligned buffer
// (Operands::b_copy, kn x NR floats: six pages), and the panel's other tiles read the copy. The copy is made from
// loads the first tile does anyway, two stores a k, and holds the same values: the sums and their bits are
// unchanged. On the 2-core Xeon of 2026-12-07, in one process with it switched off in turns, fc1's dW took
// 2.5-4.5% less time at batch 1024 and 2.5-6% less at 256 (AVX-512; with AVX2 2-3% and 4-7%), the one-call step
// 1-3% less at 1024; at 64, where a panel's 64 k-rows span 49 pages, nothing changed or the step took up to 1%
// longer. On one thread, fc1's dW on a 400-column share of x took 7.5-8.3% longer in place than on a compact copy of
// those columns; huge pages or a K block of 96 closed part of that gap, the copy most of it. (Packing B ahead of the
// tiles, a pass of its own, was 4% slower.) benchmarks/RESULTS.md, twenty-eighth session.
//
// The K block comes from the plan (gemm.h: derived from the caches, or tuned), the rows of a packed A
// block from it and L2 (Problem::k_block, row_block).
// Kernel provides: kMR, kNR (the register tile), kPackAMinCols, kPackBMinRows, and pack_b,
// panel(p, operands, kn, i0, i1, j, cols, first, last).
#pragma once
#include <algorithm>
#include <vector>

#include "gemm_kernels.h"

namespace minitorch_clf::gemm {

// 64 pages of 4 KB: the L1 data TLB of the smallest cores met (AMD Zen 3 has 64 entries, Zen 4 72, Intel's
// Golden Cove 96 for loads). A panel of B read in place whose k-rows span more is copied by its first tile.
constexpr int64_t kCopyMinBytes = 64 * 4096;

// Where a block's operands are read: in place, or packed (then a_rs/a_cs/ldb are the packed ones).
struct Operands {
  const float* a;                   // row i0 of the block, k0
  int64_t a_rs, a_cs, tile_step;    // tile_step: from one MR-row tile's A to the next
  const float* b;                   // B[k0, j]
  int64_t ldb;
  const float* b_next = nullptr;    // B read in place: the share's next panel, B[k0, j + NR] (nullptr: none)
  float* b_copy = nullptr;          // B read in place: kn x NR floats, line-aligned, where the panel's first tile
                                    // copies its k-rows for the others (nullptr: none)
};

// A block of A, rows [i0, i1) x k in [k0, k1), as panels of MR rows, k-major (plain loads and stores:
// any ISA):   apack[(t * kn + k) * MR + r] = A[i0 + MR t + r, k0 + k]          (0 past i1)
template <int64_t MR>
void pack_a(const View& a, int64_t i0, int64_t i1, int64_t k0, int64_t k1, float* __restrict__ out) {
  const int64_t kn = k1 - k0;
  for (int64_t t = 0; i0 + t * MR < i1; ++t) {
    const int64_t rows = std::min(MR, i1 - i0 - t * MR);
    const float* src = a.data + (i0 + t * MR) * a.rs + k0 * a.cs;
    float* __restrict__ panel = out + t * kn * MR;
    if (a.rs == 1 && rows == MR) {   // A's columns contiguous (A = dzᵀ in dW): MR floats copied per k
      for (int64_t k = 0; k < kn; ++k, src += a.cs, panel += MR)
        for (int64_t r = 0; r < MR; ++r) panel[r] = src[r];
      continue;
    }
    for (int64_t k = 0; k < kn; ++k, src += a.cs, panel += MR) {
      for (int64_t r = 0; r < MR; ++r) panel[r] = r < rows ? src[r * a.rs] : 0.0f;
    }
  }
}

template <class Kernel>
void outer_block(const Problem& p, const Block& blk) {
  constexpr int64_t MR = Kernel::kMR, NR = Kernel::kNR;
  const int64_t k_block = p.k_block, block_rows = p.row_block;
  thread_local LineVector<float> apack, bpack, bcopy;
  const int64_t rows_max = std::min(block_rows, blk.i1 - blk.i0);
  const int64_t panels = (blk.j1 - blk.j0 + NR - 1) / NR;
  const bool pack_a_on = blk.j1 - blk.j0 >= Kernel::kPackAMinCols;
  const bool b_in_place = p.b.cs == 1 && (rows_max < Kernel::kPackBMinRows || p.b.rs * 4 % 256 != 0);
  // Several row blocks reuse B: pack the share's whole B block once per K block. One row block: pack
  // each panel just before its tiles, while it is hot in L1.
  const bool b_block = !b_in_place && blk.i1 - blk.i0 > block_rows;
  if (pack_a_on) apack.resize(static_cast<size_t>((rows_max + MR - 1) / MR * MR * k_block));
  if (!b_in_place) bpack.resize(static_cast<size_t>((b_block ? panels : 1) * k_block * NR));
  for (int64_t k0 = 0; k0 < p.K; k0 += k_block) {
    const int64_t k1 = std::min(p.K, k0 + k_block), kn = k1 - k0;
    const bool first = k0 == 0, last = k1 == p.K;
    const bool copy_b = b_in_place && kn * p.b.rs * 4 > kCopyMinBytes;   // this K block's k-rows span that much
    if (copy_b) bcopy.resize(static_cast<size_t>(k_block * NR));
    for (int64_t t = 0; b_block && t < panels; ++t) {
      const int64_t j = blk.j0 + t * NR;
      Kernel::pack_b(p.b, j, std::min(NR, blk.j1 - j), k0, k1, bpack.data() + t * kn * NR);
    }
    for (int64_t ib = blk.i0; ib < blk.i1; ib += block_rows) {
      const int64_t ie = std::min(blk.i1, ib + block_rows);
      Operands o;
      if (pack_a_on) {
        pack_a<MR>(p.a, ib, ie, k0, k1, apack.data());
        o.a = apack.data(), o.a_rs = 1, o.a_cs = MR, o.tile_step = kn * MR;
      } else {
        o.a = p.a.data + ib * p.a.rs + k0 * p.a.cs, o.a_rs = p.a.rs, o.a_cs = p.a.cs, o.tile_step = MR * p.a.rs;
      }
      for (int64_t t = 0; t < panels; ++t) {
        const int64_t j = blk.j0 + t * NR, cols = std::min(NR, blk.j1 - j);
        if (b_in_place) {
          o.b = p.b.data + k0 * p.b.rs + j, o.ldb = p.b.rs;
          o.b_next = t + 1 < panels ? o.b + NR : nullptr;
          o.b_copy = copy_b ? bcopy.data() : nullptr;
        } else if (b_block) {
          o.b = bpack.data() + t * kn * NR, o.ldb = NR;
        } else {
          Kernel::pack_b(p.b, j, cols, k0, k1, bpack.data());
          o.b = bpack.data(), o.ldb = NR;
        }
        Kernel::panel(p, o, kn, ib, ie, j, cols, first, last);
        if (last) p.ep.done(p.c, p.ldc, ib, ie, j, j + cols);
      }
    }
  }
}

}  // namespace minitorch_clf::gemm
