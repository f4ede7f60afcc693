#include <initializer_list>
#include <omp.h>
#include <chrono>
#include <cstdio>
#include "fma_chains.h"
using namespace std::chrono;
int main() {
  for (long iters : {200L, 2000L, 20000L}) {
    const int n = 40000000 / iters;
    auto t0 = steady_clock::now();
    for (int i = 0; i < n; ++i) minitorch_clf::fma_chains_avx512(iters, 1.f);
    double one = duration<double>(steady_clock::now() - t0).count() / n * 1e6;
    t0 = steady_clock::now();
#pragma omp parallel num_threads(2)
    for (int i = 0; i < n; ++i) {
      minitorch_clf::fma_chains_avx512(iters, 1.f);
#pragma omp barrier
    }
    double two = duration<double>(steady_clock::now() - t0).count() / n * 1e6;
    t0 = steady_clock::now();
    for (int i = 0; i < n; ++i) {
#pragma omp parallel num_threads(2)
      minitorch_clf::fma_chains_avx512(iters, 1.f);
    }
    double reg = duration<double>(steady_clock::now() - t0).count() / n * 1e6;
    printf("work %.2f us alone; both threads + barrier %.2f us (+%.2f); a region each %.2f us (+%.2f)\n", one, two, two - one, reg, reg - one);
  }
}
