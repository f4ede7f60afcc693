// Candidate AVX-512 register tiles, one thread, packed operands in L1: GFLOP/s vs fma_chains.
#include <immintrin.h>
#include <chrono>
#include <cstdio>
#include <vector>
#include <cstdint>
#include "fma_chains.h"
using namespace std::chrono;
#pragma GCC target("avx512f,avx512vl,fma")
template <int R, int V>
__attribute__((noinline)) void tile(const float* a, const float* b, int64_t kn, float* c) {
  __m512 acc[R][V];
#pragma GCC unroll 32
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kn; ++k, a += R, b += 16 * V) {
    __m512 bv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) bv[v] = _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 32
    for (int r = 0; r < R; ++r) {
      const __m512 ar = _mm512_set1_ps(a[r]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 32
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) _mm512_storeu_ps(c + r * 16 * V + 16 * v, _mm512_add_ps(_mm512_loadu_ps(c + r * 16 * V + 16 * v), acc[r][v]));
}
template <int R, int V>
void run(int64_t kn, double ref) {
  std::vector<float> a(kn * R, 0.5f), b(kn * 16 * V, 0.25f), c(R * 16 * V, 0.f);
  const int64_t reps = 200000000 / (kn * R * V * 16);
  double best = 1e9;
  for (int t = 0; t < 5; ++t) {
    auto t0 = steady_clock::now();
    for (int64_t i = 0; i < reps; ++i) tile<R, V>(a.data(), b.data(), kn, c.data());
    best = std::min(best, duration<double>(steady_clock::now() - t0).count());
  }
  const double gf = 2.0 * reps * kn * R * V * 16 / best / 1e9;
  printf("%2dx%-3d K=%-4ld acc %2d  %6.1f GFLOP/s  %3.0f%%  (B panel %ld KB)\n", R, 16 * V, (long)kn, R * V, gf, 100 * gf / ref, (long)(kn * 64 * V / 1024));
}
int main() {
  double best = 1e9; const int64_t it = 20000000;
  for (int t = 0; t < 5; ++t) { auto t0 = steady_clock::now(); volatile float s = minitorch_clf::fma_chains_avx512(it, 1.0f); (void)s; best = std::min(best, duration<double>(steady_clock::now() - t0).count()); }
  const double ref = 12.0 * it * 32 / best / 1e9;
  printf("fma_chains avx512: %.1f GFLOP/s\n", ref);
  for (int64_t kn : {64, 128, 192, 256}) {
    run<8, 2>(kn, ref); run<12, 2>(kn, ref); run<14, 2>(kn, ref); run<6, 4>(kn, ref); run<4, 4>(kn, ref); run<4, 6>(kn, ref); run<8, 3>(kn, ref); run<16, 1>(kn, ref); run<24,1>(kn, ref);
  }
}
