// What a parallel region costs around fc1's forward at batch 64 (64 x 128, K 784), with the main thread idle for
// GAP us before each call (the worker waiting): mode 0 libgomp's region (gemm::sgemm, 2 threads); mode 1 a team of
// two threads of its own, the worker spinning on a counter with pause; mode 2 the same without pause. Each half
// (64 of the 128 columns) runs sgemm_planned on one thread. Best of 30 rounds of 100 calls, the gap excluded.
//   g++ -O3 -fopenmp -std=c++17 -ffp-contract=off -I../../../../kernels/cpu/gemm region_cost.cpp \
//       $(ls ../../../../kernels/cpu/gemm/gemm*.cpp | grep -v gemm_op) -o region_cost -lpthread && ./region_cost MODE GAP
#include <immintrin.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>
#include "gemm.h"
using namespace minitorch_clf::gemm;
using clk = std::chrono::steady_clock;
std::atomic<long> gen{0}, done{0};
std::atomic<bool> quit{false};
int main(int argc, char** argv) {
  const int mode = atoi(argv[1]);   // 0: omp sgemm, 1: team, spin with pause, 2: team, spin without pause
  const double gap_us = atof(argv[2]);
  std::mt19937 g(7); std::uniform_real_distribution<float> u(0, 1);
  LineVector<float> x(64*784), w(128*784), c(64*128);
  for (auto& v : x) v = u(g); for (auto& v : w) v = u(g) * 0.05f;
  const Plan one{Isa::kAvx512, Kernel::kOuter, 192, 1, Split::kColumnsFirst};
  auto half = [&](int t) { sgemm_planned(64, 64, 784, {x.data(), 784, 1}, {w.data() + t * 64 * 784, 1, 784}, c.data() + t * 64, 128, {}, one); };
  std::thread worker;
  if (mode) worker = std::thread([&] {
    long seen = 0;
    while (true) {
      long v;
      while ((v = gen.load(std::memory_order_acquire)) == seen) { if (mode == 1) _mm_pause(); if (quit.load(std::memory_order_relaxed)) return; }
      seen = v; half(1); done.fetch_add(1, std::memory_order_release);
    }
  });
  long calls = 0;
  auto run = [&] {
    if (mode == 0) { sgemm(64, 128, 784, {x.data(), 784, 1}, {w.data(), 1, 784}, c.data(), 128); return; }
    gen.fetch_add(1, std::memory_order_release); half(0); ++calls;
    while (done.load(std::memory_order_acquire) != calls) { if (mode == 1) _mm_pause(); }
  };
  for (int i = 0; i < 200; ++i) run();
  double best = 1e9;
  for (int r = 0; r < 30; ++r) {
    double s = 0;
    for (int i = 0; i < 100; ++i) {
      auto g0 = clk::now();
      while (std::chrono::duration<double, std::micro>(clk::now() - g0).count() < gap_us) {}
      auto b = clk::now(); run(); s += std::chrono::duration<double>(clk::now() - b).count();
    }
    best = std::min(best, s / 100);
  }
  std::printf("mode %d gap %5.1f us: %.1f us\n", mode, gap_us, best * 1e6);
  quit = true; if (worker.joinable()) worker.join();
}
