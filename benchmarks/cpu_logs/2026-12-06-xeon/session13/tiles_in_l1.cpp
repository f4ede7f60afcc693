// Register tiles alone, one thread, operands packed and resident in L1 (no torch): R rows x V vectors of 16 floats,
// a broadcast of A per row and V loads of B per k; "eb" the 8x2 tile with each FMA broadcasting A from memory
// ({1to16}). Build: g++ -O3 -std=c++20 -mavx512f -mfma -o tiles_in_l1 tiles_in_l1.cpp. Best of 3 rounds each.
#include <immintrin.h>
#include <chrono>
#include <cstdio>
#include <vector>
template <int R, int V, int U>
__attribute__((noinline)) void tile(const float* a, const float* b, int64_t kn, float* c) {
  __m512 acc[R][V];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t k0 = 0; k0 < kn; k0 += U)
#pragma GCC unroll 4
  for (int64_t k = k0; k < k0 + U; ++k) {
    __m512 bv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) bv[v] = _mm512_loadu_ps(b + k * 16 * V + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 ar = _mm512_set1_ps(a[k * R + r]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) _mm512_storeu_ps(c + r * 16 * V + 16 * v, _mm512_add_ps(acc[r][v], _mm512_loadu_ps(c + r * 16 * V + 16 * v)));
}
// embedded-broadcast asm variant, R8 V2
__attribute__((noinline)) void tile_eb(const float* a, const float* b, int64_t kn, float* c) {
  __m512 acc[16];
  for (int r = 0; r < 16; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kn; ++k, a += 8, b += 32) {
    __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#define F(r) __asm__("vfmadd231ps %c[off](%[a])%{1to16%}, %[b0], %[x]\n\tvfmadd231ps %c[off](%[a])%{1to16%}, %[b1], %[y]" : [x] "+v"(acc[2*r]), [y] "+v"(acc[2*r+1]) : [a] "r"(a), [b0] "v"(b0), [b1] "v"(b1), [off] "i"(4*r));
    F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7)
  }
  for (int r = 0; r < 16; ++r) _mm512_storeu_ps(c + 16 * r, _mm512_add_ps(acc[r], _mm512_loadu_ps(c + 16 * r)));
}
template <class F>
void run(const char* name, int R, int V, int64_t kn, F f) {
  std::vector<float> a(R * kn, 0.001f), b(16 * V * kn, 0.001f), c(R * 16 * V, 0.f);
  const int64_t reps = 300000000 / (R * V * kn);
  for (int i = 0; i < reps / 10; ++i) f(a.data(), b.data(), kn, c.data());
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) f(a.data(), b.data(), kn, c.data());
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  best = std::max(best, 2.0 * R * 16 * V * kn * reps / s / 1e9);
  }
  printf("%-10s kn%4ld: %.1f GFLOP/s\n", name, kn, best);
}
int main() {
  for (int kn : {64, 192, 784}) {
    run("8x2", 8, 2, kn, tile<8, 2, 1>);
    run("10x2", 10, 2, kn, tile<10, 2, 1>);
    run("12x2", 12, 2, kn, tile<12, 2, 1>);
    run("14x2", 14, 2, kn, tile<14, 2, 1>);
    run("8x3", 8, 3, kn, tile<8, 3, 1>);
    run("7x3", 7, 3, kn, tile<7, 3, 1>);
    run("9x3", 9, 3, kn, tile<9, 3, 1>);
    run("5x4", 5, 4, kn, tile<5, 4, 1>);
  }
}
