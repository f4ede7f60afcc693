// Register tiles of an outer-product kernel alone in L1, one thread: A packed k-major (MR floats a k), B packed
// k-major (16 NV floats a k), C added to once at the end; GFLOP/s and the share of one core's FMA peak measured
// here. The 8 x 32 tile is the GEMM's (gemm_avx512.cpp); "A in place" reads A's rows 784 floats apart, as fc1's
// forward reads x. Build and run:  g++ -O3 -march=native -std=c++17 tile_shapes.cpp -o tile_shapes && ./tile_shapes K
#include <immintrin.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <algorithm>
using clk = std::chrono::steady_clock;
static float* amem(size_t n) { void* p = aligned_alloc(64, (n * 4 + 63) / 64 * 64); memset(p, 0, n * 4); return (float*)p; }

// A packed k-major MR floats, B packed k-major NV*16 floats, C row-major ldc
template <int MR, int NV, int U>
__attribute__((noinline)) void tile(const float* __restrict a, const float* __restrict b, float* c, long ldc, long K) {
  __m512 acc[MR][NV];
  for (int r = 0; r < MR; ++r) for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (long k = 0; k < K; k += U) {
#pragma GCC unroll 8
    for (int u = 0; u < U; ++u) {
      __m512 bv[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + (k + u) * NV * 16 + v * 16);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const __m512 ar = _mm512_set1_ps(a[(k + u) * MR + r]);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
      }
    }
  }
  for (int r = 0; r < MR; ++r) for (int v = 0; v < NV; ++v) _mm512_storeu_ps(c + r * ldc + v * 16, _mm512_add_ps(_mm512_loadu_ps(c + r * ldc + v * 16), acc[r][v]));
}

// A in place: rows a_rs apart (like x rows in fc1 y)
template <int MR, int NV>
__attribute__((noinline)) void tile_inplace(const float* __restrict a, long a_rs, const float* __restrict b, float* c, long ldc, long K) {
  __m512 acc[MR][NV];
  for (int r = 0; r < MR; ++r) for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (long k = 0; k < K; ++k) {
    __m512 bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + k * NV * 16 + v * 16);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 ar = _mm512_set1_ps(a[r * a_rs + k]);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < MR; ++r) for (int v = 0; v < NV; ++v) _mm512_storeu_ps(c + r * ldc + v * 16, _mm512_add_ps(_mm512_loadu_ps(c + r * ldc + v * 16), acc[r][v]));
}

// One core's FMA peak: 16 independent chains of vfmadd231ps (4 cycles of latency, 2 ports: 8 in flight fill them).
double fma_peak() {
  __m512 x[16];
  for (int i = 0; i < 16; ++i) x[i] = _mm512_set1_ps(1.0f + i * 1e-7f);
  const __m512 m = _mm512_set1_ps(0.999999f), ad = _mm512_set1_ps(1e-7f);
  const long n = 50000000;
  auto t0 = clk::now();
  for (long i = 0; i < n; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) x[j] = _mm512_fmadd_ps(x[j], m, ad);
  }
  const double s = std::chrono::duration<double>(clk::now() - t0).count();
  float sum = 0;
  for (int i = 0; i < 16; ++i) sum += _mm512_reduce_add_ps(x[i]);
  if (sum == 12345) printf("x");
  return n * 16.0 * 32 / s / 1e9;
}

template <class F> double rate(F f, double flops_per_call) {
  double best = 0;
  for (int r = 0; r < 9; ++r) {
    auto t0 = clk::now(); const int n = 20000;
    for (int i = 0; i < n; ++i) f();
    double s = std::chrono::duration<double>(clk::now() - t0).count();
    best = std::max(best, n * flops_per_call / s / 1e9);
  }
  return best;
}

int main(int argc, char** argv) {
  const long K = argc > 1 ? atol(argv[1]) : 256;
  float* a = amem(16 * K); float* b = amem(64 * K); float* c = amem(16 * 64);
  float* ax = amem(16 * 784 + K);
  for (long i = 0; i < 16 * K; ++i) a[i] = 1e-3f * (i % 7);
  for (long i = 0; i < 64 * K; ++i) b[i] = 1e-3f * (i % 5);
  const double peak = fma_peak();
  printf("FMA peak one core %.1f GFLOP/s, K=%ld\n", peak, K);
#define RUN(name, MR, NV, call) { double g = rate([&] { call; }, 2.0 * MR * NV * 16 * K); printf("%-28s %6.1f GFLOP/s %5.1f%%\n", name, g, 100 * g / peak); }
  RUN("8x32 (now, packed A)", 8, 2, (tile<8, 2, 1>(a, b, c, 64, K)));
  RUN("8x32 unroll 2", 8, 2, (tile<8, 2, 2>(a, b, c, 64, K)));
  RUN("8x32 unroll 4", 8, 2, (tile<8, 2, 4>(a, b, c, 64, K)));
  RUN("8x32 A in place (x rows)", 8, 2, (tile_inplace<8, 2>(ax, 784, b, c, 64, K)));
  RUN("12x32", 12, 2, (tile<12, 2, 1>(a, b, c, 64, K)));
  RUN("12x32 unroll 2", 12, 2, (tile<12, 2, 2>(a, b, c, 64, K)));
  RUN("14x32", 14, 2, (tile<14, 2, 1>(a, b, c, 64, K)));
  RUN("4x64", 4, 4, (tile<4, 4, 1>(a, b, c, 64, K)));
  RUN("4x64 unroll 2", 4, 4, (tile<4, 4, 2>(a, b, c, 64, K)));
  RUN("6x64", 6, 4, (tile<6, 4, 1>(a, b, c, 64, K)));
  RUN("6x64 unroll 2", 6, 4, (tile<6, 4, 2>(a, b, c, 64, K)));
  RUN("8x48", 8, 3, (tile<8, 3, 1>(a, b, c, 64, K)));
  RUN("8x48 unroll 2", 8, 3, (tile<8, 3, 2>(a, b, c, 64, K)));
  RUN("7x64", 7, 4, (tile<7, 4, 1>(a, b, c, 64, K)));
  RUN("16x16", 16, 1, (tile<16, 1, 1>(a, b, c, 64, K)));
  RUN("8x32 again", 8, 2, (tile<8, 2, 1>(a, b, c, 64, K)));
}
