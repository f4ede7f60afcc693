// 8x32 tile loop as the product runs it: A tiles streamed from a packed block (L2), B panel in L1, C tile added
// into C (ldc) after each tile; against the same loop with A in L1 and no C traffic.
#include <immintrin.h>
#include <chrono>
#include <cstdio>
#include <vector>
#include <algorithm>
template <bool kC>
__attribute__((noinline)) void tile(const float* a, const float* b, long kn, float* c, long ldc) {
  __m512 acc0[8], acc1[8];
  for (int r = 0; r < 8; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (long k = 0; k < kn; ++k, a += 8, b += 32) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 8
    for (int r = 0; r < 8; ++r) {
      const __m512 ar = _mm512_set1_ps(a[r]);
      acc0[r] = _mm512_fmadd_ps(ar, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(ar, b1, acc1[r]);
    }
  }
  if (kC) {
    for (int r = 0; r < 8; ++r) {
      _mm512_storeu_ps(c + r * ldc, _mm512_add_ps(_mm512_loadu_ps(c + r * ldc), acc0[r]));
      _mm512_storeu_ps(c + r * ldc + 16, _mm512_add_ps(_mm512_loadu_ps(c + r * ldc + 16), acc1[r]));
    }
  } else {
    for (int r = 0; r < 8; ++r) { _mm512_storeu_ps(c + r * 32, acc0[r]); _mm512_storeu_ps(c + r * 32 + 16, acc1[r]); }
  }
}
__attribute__((noinline)) void chains(long iters, float* out) {
  __m512 x[12]; for (int i = 0; i < 12; ++i) x[i] = _mm512_set1_ps(1.0f + i);
  const __m512 m = _mm512_set1_ps(0.999f), a = _mm512_set1_ps(1e-3f);
  for (long i = 0; i < iters; ++i)
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) x[j] = _mm512_fmadd_ps(x[j], m, a);
  for (int i = 0; i < 12; ++i) _mm512_storeu_ps(out + 16 * i, x[i]);
}
template <class F> double best(F f, int n = 7) { double b = 1e9; for (int i = 0; i < n; ++i) { auto t0 = std::chrono::steady_clock::now(); f(); auto t1 = std::chrono::steady_clock::now(); b = std::min(b, std::chrono::duration<double>(t1 - t0).count()); } return b; }
int main() {
  std::vector<float> o(16 * 12);
  const long it = 20'000'000; chains(it / 10, o.data());
  const double spf = best([&] { chains(it, o.data()); }) / (12.0 * it);
  printf("peak %.1f GFLOP/s\n", 32 / spf / 1e9);
  const long kn = 192, rows = 512, N = 128, tiles = rows / 8;
  std::vector<float> A(rows * kn, 0.5f), B(kn * 32, 0.25f), C(rows * N, 0.f), Cs(256);
  auto rate = [&](const char* name, auto body, double fmas) {
    double s = best(body);
    printf("%-52s %.0f%% of peak\n", name, 100 * spf / (s / fmas));
  };
  const int panels = 4, reps = 40;
  const double fmas = double(reps) * panels * tiles * kn * 16;
  rate("A in L1 (one tile's), no C", [&] { for (int r = 0; r < reps; ++r) for (int p = 0; p < panels; ++p) for (long t = 0; t < tiles; ++t) tile<false>(A.data(), B.data(), kn, Cs.data(), 32); }, fmas);
  rate("A streamed from the 384 KB block, no C", [&] { for (int r = 0; r < reps; ++r) for (int p = 0; p < panels; ++p) for (long t = 0; t < tiles; ++t) tile<false>(A.data() + t * kn * 8, B.data(), kn, Cs.data(), 32); }, fmas);
  rate("A in L1, C (512x128) added to", [&] { for (int r = 0; r < reps; ++r) for (int p = 0; p < panels; ++p) for (long t = 0; t < tiles; ++t) tile<true>(A.data(), B.data(), kn, C.data() + t * 8 * N + p * 32, N); }, fmas);
  rate("A streamed, C added to (the product's pattern)", [&] { for (int r = 0; r < reps; ++r) for (int p = 0; p < panels; ++p) for (long t = 0; t < tiles; ++t) tile<true>(A.data() + t * kn * 8, B.data(), kn, C.data() + t * 8 * N + p * 32, N); }, fmas);
}
