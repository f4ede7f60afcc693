// fc1's forward and dW at one batch, through the GEMM without torch, on every thread with sgemm's plans (derived):
// "whole" runs the forward on all rows then dW over all rows, as the step does; "chunks of C" runs, chunk after
// chunk, the forward of C rows then those rows' dW, so that dW reads x's rows while they are still in L2. Each
// chunk's dW is written over one dW buffer (the real loop would add into it: one more load of C per tile, as dW's
// K blocks after the first do now), so the sums are not dW's: this times the memory traffic, not the result.
// Wᵀ: W's transpose stored by rows 576 bytes apart (read in place), so that the chunks pay no repeated packing.
//   g++ -O3 -fopenmp -std=c++17 -ffp-contract=off -Ikernels/cpu/gemm chunks.cpp \
//       kernels/cpu/gemm/gemm{,_avx2,_avx512,_bf16,_amx}.cpp -o /tmp/chunks && /tmp/chunks BATCH ROUNDS CHUNK...
#include <omp.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>
#include "gemm.h"
using namespace minitorch_clf::gemm;
static float* alloc(size_t n) {
  float* p = static_cast<float*>(std::aligned_alloc(64, (n * 4 + 63) / 64 * 64));
  std::mt19937 g(n);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (size_t i = 0; i < n; ++i) p[i] = u(g);
  return p;
}
int main(int argc, char** argv) {
  const long bs = atol(argv[1]);
  const int rounds = atoi(argv[2]);
  std::vector<long> chunks;
  for (int i = 3; i < argc; ++i) chunks.push_back(atol(argv[i]));
  float *x = alloc(bs * 784), *dz = alloc(bs * 128), *wt = alloc(784 * 144), *y = alloc(bs * 128), *dw = alloc(128 * 784);
  auto run = [&](long c) {
    for (long r = 0; r < bs; r += c) {
      const long n = std::min(c, bs - r);
      sgemm(n, 128, 784, View{x + r * 784, 784, 1}, View{wt, 144, 1}, y + r * 128, 128);
      sgemm(128, 784, n, View{dz + r * 128, 1, 128}, View{x + r * 784, 784, 1}, dw, 784);
    }
  };
  std::vector<long> cases = {bs};
  cases.insert(cases.end(), chunks.begin(), chunks.end());
  std::vector<std::vector<double>> t(cases.size());
  std::mt19937 g(1);
  std::vector<size_t> order(cases.size());
  for (size_t q = 0; q < order.size(); ++q) order[q] = q;
  for (int r = 0; r < rounds; ++r) {
    std::shuffle(order.begin(), order.end(), g);
    for (size_t q : order) {
      run(cases[q]);
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < 10; ++i) run(cases[q]);
      t[q].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 10 * 1e6);
    }
  }
  double base = 0;
  for (size_t q = 0; q < cases.size(); ++q) {
    std::sort(t[q].begin(), t[q].end());
    const double m = t[q][t[q].size() / 2];
    if (q == 0) base = m;
    printf("threads %d batch %ld %s %4ld: %8.1f us (%.1f-%.1f)  %.3f\n", omp_get_max_threads(), bs,
           q == 0 ? "whole    " : "chunks of", cases[q], m, t[q].front(), t[q].back(), m / base);
  }
}
