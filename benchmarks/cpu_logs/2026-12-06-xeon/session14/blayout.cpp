// fc1's dW at batch K (128 x 784), one thread, as 25 products of 32 columns: B = x read in place (rows 784 apart)
// or from a copy laid out as contiguous 32-column panels; in shuffled rounds.
#include <omp.h>
#include <chrono>
#include <cstdio>
#include <vector>
#include <cstdlib>
#include <algorithm>
#include <random>
#include <functional>
#include <cmath>
#include "gemm.h"
using namespace minitorch_clf::gemm;
int main(int argc, char** argv) {
  omp_set_num_threads(1);
  long K = atol(argv[1]); long kb = argc > 2 ? atol(argv[2]) : 192;
  auto al = [](size_t n, float v) { float* p = (float*)aligned_alloc(64, (n * 4 + 63) / 64 * 64); for (size_t i = 0; i < n; ++i) p[i] = v * (1 + i % 7); return p; };
  float *X = al(K * 784, 0.5f), *P = al(K * 800, 0.f), *DZ = al(K * 128, 0.3f), *C = al(128 * 784, 0.f), *C2 = al(128 * 784, 0.f);
  for (long t = 0; t < 25; ++t) for (long k = 0; k < K; ++k) for (long c = 0; c < 32; ++c) P[t * K * 32 + k * 32 + c] = t * 32 + c < 784 ? X[k * 784 + t * 32 + c] : 0.f;
  View a{DZ, 1, 128};
  Plan plan{Isa::kAvx512, Kernel::kOuter, kb, 1, Split::kColumnsFirst};
  auto in_place = [&] { for (long t = 0; t < 25; ++t) { long n = std::min(32L, 784 - t * 32); sgemm_planned(128, n, K, a, View{X + t * 32, 784, 1}, C + t * 32, 784, {}, plan); } };
  auto packed = [&] { for (long t = 0; t < 25; ++t) { long n = std::min(32L, 784 - t * 32); sgemm_planned(128, n, K, a, View{P + t * K * 32, 32, 1}, C2 + t * 32, 784, {}, plan); } };
  auto whole = [&] { sgemm_planned(128, 784, K, a, View{X, 784, 1}, C, 784, {}, plan); };
  std::vector<std::pair<const char*, std::function<void()>>> fs = {{"whole product, B in place", whole}, {"25 panels, B in place", in_place}, {"25 panels, B pre-packed", packed}};
  std::vector<std::vector<double>> t(fs.size());
  std::mt19937 rng(1); std::vector<size_t> order = {0, 1, 2};
  for (int r = 0; r < 15; ++r) { std::shuffle(order.begin(), order.end(), rng); for (size_t q : order) {
    fs[q].second();
    auto t0 = std::chrono::steady_clock::now(); for (int i = 0; i < 5; ++i) fs[q].second();
    t[q].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 5);
  } }
  for (size_t q = 0; q < fs.size(); ++q) { std::sort(t[q].begin(), t[q].end()); printf("K %ld kb %ld %-28s median %7.1f us (%.1f GFLOP/s)\n", K, kb, fs[q].first, t[q][7] * 1e6, 2.0 * 128 * 784 * K / t[q][7] / 1e9); }
  double e = 0; for (long i = 0; i < 128 * 784; ++i) e = std::max(e, (double)std::abs(C[i] - C2[i])); printf("max diff %g\n", e);
}
