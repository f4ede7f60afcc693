// The float32 peak this CPU reaches, measured: every OpenMP thread runs fma_chains.h's loop (2 FMA
// pipes x 8 lanes x 2 flops = 32 flops per cycle at the clock the core holds), and their rates add.
// The GEMM benchmarks report their GFLOP/s as a share of this.
#include <ATen/ATen.h>
#include <omp.h>
#include <torch/library.h>

#include <chrono>

#include "fma_chains.h"
#include "gemm.h"

namespace minitorch_clf {
namespace {

double fma_peak_gflops(int64_t threads) {
  TORCH_CHECK(gemm::cpu_has_avx2_fma(), "fma_peak_gflops: this CPU has no AVX2/FMA");
  TORCH_CHECK(threads >= 1, "threads: expected >= 1, got ", threads);
  constexpr int64_t kIters = 10'000'000;    // ~20 ms per thread at 3 GHz
  double total = 0;                         // the threads' own rates, summed: start-up skew is not counted
#pragma omp parallel num_threads(static_cast<int>(threads)) reduction(+ : total)
  {
    const float seed = 1e-3f * static_cast<float>(1 + omp_get_thread_num());
    fma_chains(kIters / 4, seed);            // warm-up; noipa keeps both calls, in place
    const auto t0 = std::chrono::steady_clock::now();
    fma_chains(kIters, seed);
    const auto t1 = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(t1 - t0).count();
    total += kIters * 12.0 * 8 * 2 / seconds / 1e9;
  }
  return total;
}

}  // namespace

TORCH_LIBRARY_IMPL(minitorch_clf, CompositeExplicitAutograd, m) {   // no tensor argument: every device
  m.impl("fma_peak_gflops", &fma_peak_gflops);
}

}  // namespace minitorch_clf
