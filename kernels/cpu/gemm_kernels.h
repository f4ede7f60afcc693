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
};

// The rows [i0, i1) and columns [j0, j1) of C, from the k in [k0, k1). The first K block writes C,
// later ones add to it; the epilogue runs on the last.
struct Block {
  int64_t i0, i1, j0, j1, k0, k1;
  bool first_k, last_k;
};

// The epilogue of one element (the scalar kernel and the dot kernel's stores use it).
inline float finish(float v, const Epilogue& ep, int64_t i, int64_t j) {
  if (ep.bias) v += ep.bias[j];
  if (ep.relu && v < 0.0f) v = 0.0f;
  if (ep.mask && !(ep.mask[i * ep.mask_ld + j] > 0.0f)) v = 0.0f;
  return v;
}

// Register-tile shapes of the AVX2 kernels (gemm.cpp sizes its blocks and thread shares in them).
constexpr int64_t kOuterMR = 6, kOuterNR = 16;   // outer-product kernel: 6 rows x 2 vectors of 8
constexpr int64_t kDotMR = 3, kDotNR = 4;         // dot kernel: 3 rows of A x 4 rows of Bᵀ

// Outer-product kernel: needs B's rows contiguous (b.cs == 1); A may have any strides.
void outer_block_avx2(const Problem& p, const Block& blk);
// Dot-product kernel: needs A's rows and Bᵀ's rows contiguous (a.cs == 1, b.rs == 1); whole K.
void dot_block_avx2(const Problem& p, const Block& blk);
// Plain loops: any strides, no instruction set beyond the baseline.
void block_scalar(const Problem& p, const Block& blk);

}  // namespace minitorch_clf::gemm
