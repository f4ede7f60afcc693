// The GEMM's micro-kernels alone, one thread, operands resident in L1: what each kernel version
// reaches before memory and threads have a say. Every version is first checked against the scalar
// kernel on random operands (within the float32 bound K·u·Σ|a||b|), then timed (llm.c's dev/ order:
// validate, then time). No torch; build and run from the repository root:
//
//   make -C kernels/dev && kernels/dev/build/gemm_micro       (kernels/dev/Makefile has the flags)
//
// Cycles come from fma_chains.h's reference loops, which run at the core's limit of 2 FMA
// instructions per cycle of the ISA's width: the kernel's cycles per FMA instruction =
// 0.5 x (kernel's time per FMA instruction) / (reference's). The floor is 0.5. Exit status 1 if a
// kernel fails its check.
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "dev_check.h"
#include "fma_chains.h"
#include "gemm.h"

using namespace minitorch_clf::gemm;
using dev::best_seconds;

namespace {

struct Case {
  const char* name;
  long M, N, K;
  bool outer;           // B row-major (outer kernel) or Bᵀ by rows (dot kernel)
};

struct IsaCases {
  Isa isa;
  const char* name;
  int lanes;
  Case cases[2];
};

// The kernel's result against the scalar kernel's on random operands (dev_check.h): below 1 passes.
double check(const Case& c, Isa isa) {
  std::mt19937 gen(7);
  std::normal_distribution<float> normal;
  std::vector<float> A(c.M * c.K), B(c.K * c.N), C(c.M * c.N), R(c.M * c.N);
  for (float& v : A) v = normal(gen);
  for (float& v : B) v = normal(gen);
  const View a{A.data(), c.K, 1};
  const View b = c.outer ? View{B.data(), c.N, 1} : View{B.data(), 1, c.K};
  sgemm(c.M, c.N, c.K, a, b, C.data(), c.N, {}, isa);
  sgemm(c.M, c.N, c.K, a, b, R.data(), c.N, {}, Isa::kScalar);
  return dev::worst_error(c.M, c.N, c.K, a, b, C.data(), R.data());
}

}  // namespace

int main() {
  if (!cpu_has_avx2_fma()) {
    std::printf("this CPU has no AVX2/FMA: only the scalar kernel runs here\n");
    return 0;
  }
  omp_set_num_threads(1);
  const IsaCases all[] = {
      {Isa::kAvx512, "avx512", 16, {{"outer 8x32 tile, K=256 (dW = dzᵀ·x, dx = dz·W)", 8, 32, 256, true},
                                    {"dot 4x4 tile, K=784 (y = x·Wᵀ)", 4, 4, 784, false}}},
      {Isa::kAvx2, "avx2", 8, {{"outer 6x16 tile, K=256 (dW = dzᵀ·x, dx = dz·W)", 6, 16, 256, true},
                               {"dot 3x4 tile, K=784 (y = x·Wᵀ)", 3, 4, 784, false}}},
  };
  int failed = 0;
  for (const IsaCases& ic : all) {
    if (ic.isa == Isa::kAvx512 && !cpu_has_avx512f()) {
      std::printf("%s: this CPU cannot run it\n", ic.name);
      continue;
    }
    const long ref_iters = 20'000'000;
    auto chains = [&](long iters) {
      return ic.isa == Isa::kAvx512 ? minitorch_clf::fma_chains_avx512(iters, 1e-3f)
                                    : minitorch_clf::fma_chains(iters, 1e-3f);
    };
    chains(ref_iters / 10);                 // warm-up (and the clock the ISA's FMAs settle at)
    auto reference = [&] { return best_seconds([&] { chains(ref_iters); }, 5); };
    double ref_s = reference();
    struct Result { const char* name; double s, fmas, err; };
    std::vector<Result> results;
    for (const Case& c : ic.cases) {
      const double err = check(c, ic.isa);
      if (!(err < 1.0)) {
        std::printf("%s %s: FAILED its check (error %.2f of the bound)\n", ic.name, c.name, err);
        ++failed;
        continue;
      }
      std::vector<float> A(c.M * c.K, 0.5f), B(c.K * c.N, 0.25f), C(c.M * c.N);
      const View a{A.data(), c.K, 1};
      const View b = c.outer ? View{B.data(), c.N, 1} : View{B.data(), 1, c.K};
      const long calls = 200'000;
      const double s = best_seconds([&] {
        for (long i = 0; i < calls; ++i) sgemm(c.M, c.N, c.K, a, b, C.data(), c.N, {}, ic.isa);
      });
      results.push_back({c.name, s, static_cast<double>(c.M) * c.N * c.K / ic.lanes * calls, err});
    }
    // The reference again, after: a neighbour on a shared machine can slow one reading; the faster
    // of the two is the core's limit.
    ref_s = std::min(ref_s, reference());
    const double s_per_fma_at_peak = ref_s / (12.0 * ref_iters);
    std::printf("%s reference: %.2f GHz-equivalent (2 FMA/cycle), %.1f GFLOP/s per core\n", ic.name,
                1.0 / (2 * s_per_fma_at_peak) / 1e9, 2.0 * ic.lanes / s_per_fma_at_peak / 1e9);
    for (const Result& r : results) {
      std::printf("%s %-48s checked (%.2f of the bound)  %6.1f GFLOP/s  %.3f cycles per FMA instruction (%.0f%% of "
                  "peak), call included\n", ic.name, r.name, r.err, 2.0 * ic.lanes * r.fmas / r.s / 1e9,
                  0.5 * (r.s / r.fmas) / s_per_fma_at_peak, 100 * s_per_fma_at_peak / (r.s / r.fmas));
    }
  }
  return failed ? 1 : 0;
}
