// fc1's forward x·Wᵀ through gemm::sgemm with W strided (Wᵀ packed per call) and with Wᵀ contiguous (read in place):
// what packing Wᵀ costs. Build from the repository root:
//   g++ -O3 -fopenmp -std=c++17 -ffp-contract=off -Ikernels/cpu/gemm FILE $(ls kernels/cpu/gemm/gemm*.cpp | grep -v gemm_op) -o fc1y
//   OMP_NUM_THREADS=2 ./fc1y 64
#include <omp.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>
#include "gemm.h"
using namespace minitorch_clf::gemm;
template <class F> double best(F f, int calls) {
  double b = 1e9;
  for (int r = 0; r < 9; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) f();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / calls;
    if (s < b) b = s;
  }
  return b;
}
int main(int argc, char** argv) {
  long N = argc > 1 ? atol(argv[1]) : 64, I = 784, O = 128;
  auto al = [](size_t n) { float* p = (float*)aligned_alloc(64, (n * 4 + 63) / 64 * 64); for (size_t i = 0; i < n; ++i) p[i] = (rand() % 2000 - 1000) / 1000.f; return p; };
  float *x = al(N * I), *w = al(O * I), *wt = al(I * O), *c = al(N * O);
  for (long o = 0; o < O; ++o) for (long i = 0; i < I; ++i) wt[i * O + o] = w[o * I + i];
  View a{x, I, 1}, bw{w, 1, I}, bt{wt, O, 1};
  int calls = 2000;
  for (int rep = 0; rep < 3; ++rep) {
    double s1 = best([&] { sgemm(N, O, I, a, bw, c, O); }, calls);
    double s2 = best([&] { sgemm(N, O, I, a, bt, c, O); }, calls);
    printf("N %ld  W strided (packed) %.2f us   Wt contiguous (in place) %.2f us\n", N, s1 * 1e6, s2 * 1e6);
  }
}
