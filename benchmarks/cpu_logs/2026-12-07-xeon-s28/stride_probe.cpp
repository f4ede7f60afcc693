// fc1's dW shape on ONE thread through gemm::sgemm_planned (outer kernel, AVX-512, k block kb, columns first):
// C (128 x N) = dzᵀ (read from dz, K x 128) · x (K x N, rows ld floats apart, read in place), each x on its own
// 2 MB-aligned buffer given MADV_HUGEPAGE (huge 1) or MADV_NOHUGEPAGE (huge 0); copy 1 sets MCLF_BCOPY (bcopy.patch's
// switch; without that patch it does nothing). The configurations run in shuffled turns, 25 rounds of 5 calls,
// medians. Build against the GEMM's sources of the commit under test, from the repository root:
//   g++ -O3 -fopenmp -std=c++20 -ffp-contract=off -Ikernels/cpu/gemm stride_probe.cpp \
//       $(ls kernels/cpu/gemm/gemm*.cpp | grep -v gemm_op) -o /tmp/stride_probe
//   /tmp/stride_probe K N:ld:huge:kb:copy ...
#include <omp.h>
#include <sys/mman.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>
#include "gemm.h"
#include "fma_chains.h"
using namespace minitorch_clf::gemm;
struct Cfg { long N, ld; int huge; long kb; int copy; float* b; std::vector<double> t; };
int main(int argc, char** argv) {
  omp_set_num_threads(1);
  const long M = 128, K = atol(argv[1]);
  std::vector<Cfg> cfgs;
  for (int q = 2; q < argc; ++q) {
    Cfg c{}; c.kb = 192; sscanf(argv[q], "%ld:%ld:%d:%ld:%d", &c.N, &c.ld, &c.huge, &c.kb, &c.copy);
    size_t bytes = ((K * c.ld * 4 + (2u << 20) - 1) / (2u << 20)) * (2u << 20);
    c.b = (float*)std::aligned_alloc(2u << 20, bytes);
    madvise(c.b, bytes, c.huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    for (size_t i = 0; i < bytes / 4; ++i) c.b[i] = 0.02f * (i % 7);
    cfgs.push_back(c);
  }
  float* a = (float*)std::aligned_alloc(64, K * M * 4); for (long i = 0; i < K * M; ++i) a[i] = 0.01f * (i % 5);
  float* c = (float*)std::aligned_alloc(64, M * 1024 * 4);
  std::mt19937 rng(1);
  std::vector<int> order(cfgs.size()); for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (int r = 0; r < 25; ++r) {
    std::shuffle(order.begin(), order.end(), rng);
    for (int i : order) {
      Cfg& g = cfgs[i];
      auto f = [&] { sgemm_planned(M, g.N, K, View{a, 1, M}, View{g.b, g.ld, 1}, c, g.N, {}, Plan{Isa::kAvx512, Kernel::kOuter, g.kb, 1, Split::kColumnsFirst}); };
      if (g.copy) setenv("MCLF_BCOPY", "1", 1); else unsetenv("MCLF_BCOPY");
      f();
      auto t0 = std::chrono::steady_clock::now();
      for (int k = 0; k < 5; ++k) f();
      g.t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 5);
    }
  }
  for (auto& g : cfgs) {
    std::sort(g.t.begin(), g.t.end());
    double med = g.t[g.t.size() / 2];
    std::printf("copy %d K %ld kb %4ld N %4ld ld %4ld huge %d: median %7.1f us  %6.1f GFLOP/s\n", g.copy, K, g.kb, g.N, g.ld, g.huge, med * 1e6, 2.0 * M * g.N * K / med / 1e9);
  }
}
