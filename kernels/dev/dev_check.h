// What the dev benchmarks share (plain C++, no torch): the best of a few timed rounds, and the check
// of a product against the scalar kernel.
#pragma once
#include <algorithm>
#include <chrono>
#include <cmath>

#include "gemm.h"

namespace minitorch_clf::gemm::dev {

template <typename F>
double best_seconds(F f, int repeats = 7) {
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

// C (M, N) against R, the scalar kernel's result for the same views: the largest |C - R| over the
// element's bound 2 K u Σ|a||b| (u = 2^-24; twice the float32 bound, as both results carry rounding).
// Below 1 passes.
inline double worst_error(long M, long N, long K, const View& a, const View& b, const float* C, const float* R) {
  double worst = 0;
  for (long i = 0; i < M; ++i) {
    for (long j = 0; j < N; ++j) {
      double mag = 0;
      for (long k = 0; k < K; ++k) mag += std::fabs(a.data[i * a.rs + k * a.cs] * b.data[k * b.rs + j * b.cs]);
      const double bound = 2.0 * K * std::ldexp(1.0, -24) * mag + 1e-30;
      worst = std::max(worst, std::fabs(static_cast<double>(C[i * N + j]) - R[i * N + j]) / bound);
    }
  }
  return worst;
}

}  // namespace minitorch_clf::gemm::dev
