// The float32 peak this CPU reaches, measured: every OpenMP thread runs fma_chains.h's loop with the
// ISA's vectors (AVX2: 2 FMA pipes x 8 lanes x 2 flops = 32 flops per cycle; AVX-512: 16 lanes), at the
// clock the core holds, and their rates add. 'auto' measures the widest ISA the CPU has: the GEMM
// benchmarks divide by that, so a "% of peak" is of what the machine can do, not of a narrower path.
// 'avx512bf16' measures the bf16 dot products instead (twice the flops an instruction), 'amx' the AMX
// tiles' bf16 products: the ceilings of the two bf16 kernels.
#include <ATen/ATen.h>
#include <omp.h>
#include <torch/library.h>

#include <chrono>
#include <string>

#include "../gemm/fma_chains.h"
#include "../gemm/gemm.h"

namespace minitorch_clf {
namespace {

double fma_peak_gflops(int64_t threads, c10::string_view isa) {
  // one thread a logical CPU at most: past that the threads only take turns (and a count past INT_MAX
  // became a negative num_threads, which crashed the OpenMP runtime)
  TORCH_CHECK(threads >= 1 && threads <= omp_get_num_procs(), "threads: expected 1 to ", omp_get_num_procs(),
              " (this machine's logical CPUs), got ", threads);
  const bool bf16 = isa == "avx512bf16", amx = isa == "amx";
  const bool wide = bf16 || amx || isa == "avx512" || (isa == "auto" && gemm::cpu_has_avx512f());
  TORCH_CHECK(isa == "auto" || isa == "avx512" || isa == "avx2" || bf16 || amx,
              "isa: expected 'auto', 'avx512', 'avx2', 'avx512bf16' or 'amx', got '", std::string(isa), "'");
  TORCH_CHECK(!bf16 || gemm::cpu_has_avx512bf16(), "isa='avx512bf16': this CPU has no AVX512-BF16");
  TORCH_CHECK(!amx || gemm::cpu_has_amx_bf16(), "isa='amx': this CPU (or system) runs no AMX-BF16 tiles");
  TORCH_CHECK(!wide || gemm::cpu_has_avx512f(), "isa='avx512': this CPU has no AVX-512F");
  TORCH_CHECK(wide || gemm::cpu_has_avx2_fma(), "fma_peak_gflops: this CPU has no AVX2/FMA");
  const int64_t kIters = amx ? 1'000'000 : 10'000'000;    // ~20 ms (AMX ~35 ms) per thread at 3 GHz
  // vdpbf16ps: two products a lane; tdpbf16ps: 6 instructions of 16 x 16 lanes x 32 products
  const double flops_per_iter = amx ? 6.0 * 16 * 16 * 32 * 2 : 12.0 * (wide ? 16 : 8) * 2 * (bf16 ? 2 : 1);
  double total = 0;                         // the threads' own rates, summed: start-up skew is not counted
#pragma omp parallel num_threads(static_cast<int>(threads)) reduction(+ : total)
  {
    const float seed = 1e-3f * static_cast<float>(1 + omp_get_thread_num());
    auto run = [&](int64_t iters) {
      if (amx) return amx_chains(iters, seed);
      return bf16 ? bf16_chains(iters, seed) : wide ? fma_chains_avx512(iters, seed) : fma_chains(iters, seed);
    };
    run(kIters / 4);                         // warm-up (and the clock a wide FMA load settles at); noipa keeps both
    const auto t0 = std::chrono::steady_clock::now();
    run(kIters);
    const auto t1 = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(t1 - t0).count();
    total += kIters * flops_per_iter / seconds / 1e9;
  }
  return total;
}

}  // namespace

TORCH_LIBRARY_IMPL(minitorch_clf, CompositeExplicitAutograd, m) {   // no tensor argument: every device
  m.impl("fma_peak_gflops", &fma_peak_gflops);
}

}  // namespace minitorch_clf
