// The GEMM's micro-kernels alone, one thread, operands resident in L1: what each kernel reaches
// before memory and threads have a say. No torch; build and run from the repository root:
//
//   g++ -O3 -fopenmp -std=c++17 -Ikernels/cpu/gemm benchmarks/gemm_micro.cpp kernels/cpu/gemm/gemm.cpp
//       kernels/cpu/gemm/gemm_avx2.cpp kernels/cpu/gemm/gemm_avx512.cpp -o /tmp/gemm_micro && /tmp/gemm_micro
//
// Cycles come from fma_chains.h's reference loop, which runs at the core's limit of 2 FMA
// instructions per cycle (Zen 3, Haswell and later): cycles = its FMAs / 2, so
// the kernel's cycles per FMA instruction = 0.5 x (kernel's time per FMA) / (reference time per FMA).
// The floor is 0.5.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "fma_chains.h"
#include "gemm.h"

using minitorch_clf::fma_chains;
using namespace minitorch_clf::gemm;

namespace {

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

}  // namespace

int main() {
  if (!cpu_has_avx2_fma()) {
    std::printf("this CPU has no AVX2/FMA: only the scalar kernel runs here\n");
    return 0;
  }
  omp_set_num_threads(1);
  const long ref_iters = 20'000'000;
  fma_chains(ref_iters / 10, 1e-3f);        // warm-up; noipa keeps every call, in place
  auto reference = [&] { return best_seconds([&] { fma_chains(ref_iters, 1e-3f); }, 5); };
  double ref_s = reference();

  struct Result { const char* name; double s, fmas; };
  std::vector<Result> results;
  struct Case { const char* name; long M, N, K; bool outer; };
  const Case cases[] = {{"outer 6x16 tile, K=256 (dW = dzᵀ·x, dx = dz·W)", 6, 16, 256, true},
                        {"dot 3x4 tile, K=784 (y = x·Wᵀ)", 3, 4, 784, false}};
  for (const Case& c : cases) {
    std::vector<float> A(c.M * c.K, 0.5f), B(c.K * c.N, 0.25f), C(c.M * c.N);
    const View a{A.data(), c.K, 1};
    const View b = c.outer ? View{B.data(), c.N, 1} : View{B.data(), 1, c.K};   // Bᵀ by rows for dot
    const long calls = 200'000;
    const double s = best_seconds([&] {
      for (long i = 0; i < calls; ++i) sgemm(c.M, c.N, c.K, a, b, C.data(), c.N);
    });
    results.push_back({c.name, s, static_cast<double>(c.M) * c.N * c.K / 8 * calls});   // 8-wide FMAs
  }
  // The reference again, after: a neighbour on a shared machine can slow one reading; the faster
  // of the two is the core's limit.
  ref_s = std::min(ref_s, reference());
  const double s_per_fma_at_peak = ref_s / (12.0 * ref_iters);
  std::printf("reference: %.2f GHz-equivalent (2 FMA/cycle), %.1f GFLOP/s per core\n",
              1.0 / (2 * s_per_fma_at_peak) / 1e9, 16.0 / s_per_fma_at_peak / 1e9);
  for (const Result& r : results) {
    std::printf("%-48s %6.1f GFLOP/s  %.3f cycles per FMA instruction (%.0f%% of peak), call included\n", r.name,
                16 * r.fmas / r.s / 1e9, 0.5 * (r.s / r.fmas) / s_per_fma_at_peak,
                100 * s_per_fma_at_peak / (r.s / r.fmas));
  }
  return 0;
}
