// Between gemm.cpp (which splits the product into blocks and threads) and the kernels that compute a
// block. Not part of the GEMM's interface (that is gemm.h).
#pragma once
#include <cstdint>

#include "gemm.h"

namespace minitorch_clf::gemm {

struct Problem {
  int64_t M, N, K;
  View a, b;       // A (M, K), B (K, N)
  float* c;        // C (M, N), row-major
  int64_t ldc;
  Epilogue ep;
  int64_t k_block = 0, row_block = 0;   // the outer kernel's blocks (Plan::k_block and what follows from it)
};

// The rows [i0, i1) and columns [j0, j1) of C: one thread's share.
struct Block {
  int64_t i0, i1, j0, j1;
};

// The epilogue of one element (the scalar kernel uses it; the SIMD kernels do the same in registers).
inline float finish(float v, const Epilogue& ep, int64_t i, int64_t j) {
  if (ep.bias) v += ep.bias[j];
  if (ep.act == Activation::kRelu) v = activate<Activation::kRelu>(v);
  if (ep.act == Activation::kLeakyRelu) v = activate<Activation::kLeakyRelu>(v);
  if (ep.through) {
    const float s = ep.through[i * ep.through_ld + j];
    if (ep.through_act == Activation::kRelu) v = backprop<Activation::kRelu>(v, s);
    if (ep.through_act == Activation::kLeakyRelu) v = backprop<Activation::kLeakyRelu>(v, s);
  }
  return v;
}

// Register-tile shapes of the kernels (gemm.cpp sizes thread shares in tiles); their cache blocks come
// from the plan (the outer kernel's) or the machine (dot_row_block in gemm.h).
constexpr int64_t kOuterMR = 6, kOuterNR = 16;   // AVX2 outer-product kernel: 6 rows x 2 vectors of 8
constexpr int64_t kDotMR = 3, kDotNR = 4;         // AVX2 dot kernel: 3 rows of A x 4 rows of Bᵀ

constexpr int64_t kOuter512MR = 8, kOuter512NR = 32;   // AVX-512 outer kernel: 8 rows x 2 vectors of 16

// Outer-product kernel: any strides (A and B are packed per block).
void outer_block_avx2(const Problem& p, const Block& blk);
void outer_block_avx512(const Problem& p, const Block& blk);
void dot_block_avx512(const Problem& p, const Block& blk);
// Both operands rounded to bf16 and packed in pairs along k, vdpbf16ps (gemm_bf16.cpp): any strides. K runs in
// blocks of kBf16BlockK, each summed from zero and then added to C: C = C + (the block's sum).
constexpr int64_t kBf16BlockK = 512;
void outer_block_bf16(const Problem& p, const Block& blk);
// The same sums on AMX tiles, 32 x 32 blocks of C (gemm_amx.cpp): any strides.
void outer_block_amx(const Problem& p, const Block& blk);
// B (K, N) rounded and paired in View::pairs' layout (panels of 32 columns, whole K, pairs_b_ld(K) apart),
// by T threads, each its own panels; out holds pairs_b_ld(K) * ceil(N / 32) values. In gemm_bf16.cpp, for both
// bf16 kernels (AVX512-BF16 instructions, which every CPU with AMX-BF16 has).
int64_t pairs_b_ld(int64_t K);
void pair_b(const View& b, int64_t K, int64_t N, uint32_t* out, int T);
// Dot-product kernel: needs A's rows and Bᵀ's rows contiguous (a.cs == 1, b.rs == 1).
void dot_block_avx2(const Problem& p, const Block& blk);
// Plain loops: any strides, no instruction set beyond the baseline.
void block_scalar(const Problem& p, const Block& blk);

}  // namespace minitorch_clf::gemm
