// fc1's products alone, one or two threads, on explicit plans: k_block values side by side, rounds interleaved.
#include <omp.h>
#include <chrono>
#include <cstdio>
#include <vector>
#include <cstdlib>
#include <algorithm>
#include "gemm.h"
#include <sys/mman.h>
using namespace minitorch_clf::gemm;
int main(int argc, char** argv) {
  int T = atoi(argv[1]); long bs = atol(argv[2]); int which = atoi(argv[3]);   // 0: y = x·Wᵀ, 1: dW = dzᵀ·x
  omp_set_num_threads(T);
  size_t xb = ((bs * 784 * 4) + (2 << 20) - 1) & ~size_t((2 << 20) - 1);
  float* Xp = (float*)aligned_alloc(2 << 20, xb);
  if (getenv("HUGE")) printf("madvise %d\n", madvise(Xp, xb, MADV_HUGEPAGE));
  for (long i = 0; i < bs * 784; ++i) Xp[i] = 0.5f;
  struct { float* p; float* data() { return p; } } X{Xp};
  auto al = [](size_t n, float v) { float* p = (float*)aligned_alloc(64, (n * 4 + 63) / 64 * 64); for (size_t i = 0; i < n; ++i) p[i] = v; struct R { float* p; float* data() { return p; } }; return R{p}; };
  auto Wpad = al(136 * 784, 0.25f), W = al(128 * 784, 0.25f), DZ = al(bs * 128, 0.3f), C = al(std::max(bs, 128L) * 784, 0.f);
  long M, N, K; View a, b;
  if (which == 2) { M = bs; N = 128; K = 784; a = {X.data(), 784, 1}; b = {Wpad.data(), 136, 1}; }
  else if (which == 0) { M = bs; N = 128; K = 784; a = {X.data(), 784, 1}; b = {W.data(), 1, 784}; }
  else { M = 128; N = 784; K = bs; a = {DZ.data(), 1, 128}; b = {X.data(), 784, 1}; }
  Split split = (Split)atoi(argv[4]);
  std::vector<long> kbs; for (int i = 5; i < argc; ++i) kbs.push_back(atol(argv[i]));
  std::vector<double> best(kbs.size(), 1e9);
  long calls = std::max(20L, (long)(3e8 / (2.0 * M * N * K)));
  for (int r = 0; r < 9; ++r) for (size_t q = 0; q < kbs.size(); ++q) {
    Plan plan{Isa::kAvx512, kbs[q] == 0 ? Kernel::kDot : Kernel::kOuter, kbs[q] ? kbs[q] : 192, T, split};
    auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < calls; ++i) sgemm_planned(M, N, K, a, b, C.data(), N, {}, plan);
    best[q] = std::min(best[q], std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / calls);
  }
  for (size_t q = 0; q < kbs.size(); ++q) printf("T %d %s bs %ld kb %4ld: %7.1f us %6.1f GFLOP/s\n", T, which == 1 ? "dW" : which == 2 ? "yT" : "y ", bs, kbs[q], best[q] * 1e6, 2.0 * M * N * K / best[q] / 1e9);
}
