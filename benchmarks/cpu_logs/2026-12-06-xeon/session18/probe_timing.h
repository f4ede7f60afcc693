// What this folder's C++ probes share: buffers on 64-byte lines (Aligned, the kernels' LineVector: std::vector's
// own 16-byte alignment has half of the 64-byte loads straddle two lines), the best of several timed runs (as
// kernels/dev/dev_check.h's, which needs the GEMM's include path), and the peak's reference FMA chains (the
// kernels' fma_chains.h: 2 AVX-512 FMAs a cycle).
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <chrono>

#include "../../../../kernels/cpu/gemm/fma_chains.h"
#include "../../../../kernels/cpu/gemm/line_vector.h"

template <class T>
using Aligned = minitorch_clf::gemm::LineVector<T>;   // storage on a 64-byte line (the GEMM's own buffers)

template <class F>
double best(F f, int reps = 9) {
  double b = 1e9;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    b = std::min(b, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return b;
}

inline float chains(long n) { return minitorch_clf::fma_chains_avx512(n, 1e-3f); }
