// The bias gradient's column sums of a (1024, O) float32 dz in 32-row blocks, one thread: the kernel's loop (each row
// added to the block's running sums in memory, `cur`) against the running sums of 32 / 64 / 128 columns held in
// AVX-512 registers through the block's rows (the same additions in the same order: the same bits, checked). At
// O = 64 the 128-column variant (reg16) has no whole chunk and runs its plain tail loop.
//   g++ -O3 -mavx512f -mavx512vl -mavx512dq -ffp-contract=off bias_loop.cpp && ./a.out 128 && ./a.out 64
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <vector>
#include <cstring>
#include <algorithm>
#include <immintrin.h>
constexpr int64_t R = 32;
__attribute__((noinline)) void cur(const float* __restrict__ g0, double* __restrict__ part, int64_t N, int64_t O) {
  int64_t blocks = (N + R - 1) / R;
  for (int64_t b = 0; b < blocks; ++b) {
    double* __restrict__ sum = part + b * O;
    for (int64_t n = b * R; n < std::min(N, (b + 1) * R); ++n) {
      const float* __restrict__ g = g0 + n * O;
      for (int64_t o = 0; o < O; ++o) sum[o] += g[o];
    }
  }
}
// The running sums of 8V columns in V zmm registers through the block's rows, then stored: per element the same
// additions in the same order as cur.
template <int V>
__attribute__((noinline)) void regv(const float* __restrict__ g0, double* __restrict__ part, int64_t N, int64_t O) {
  int64_t blocks = (N + R - 1) / R;
  for (int64_t b = 0; b < blocks; ++b) {
    double* __restrict__ sum = part + b * O;
    const int64_t n0 = b * R, n1 = std::min(N, (b + 1) * R);
    int64_t o = 0;
    for (; o + 8 * V <= O; o += 8 * V) {
      __m512d a[V];
      for (int v = 0; v < V; ++v) a[v] = _mm512_loadu_pd(sum + o + 8 * v);
      for (int64_t n = n0; n < n1; ++n) {
        const float* g = g0 + n * O + o;
        for (int v = 0; v < V; ++v) a[v] = _mm512_add_pd(a[v], _mm512_cvtps_pd(_mm256_loadu_ps(g + 8 * v)));
      }
      for (int v = 0; v < V; ++v) _mm512_storeu_pd(sum + o + 8 * v, a[v]);
    }
    for (; o < O; ++o) for (int64_t n = n0; n < n1; ++n) sum[o] += g0[n * O + o];
  }
}
int main(int argc, char** argv) {
  int64_t N = 1024, O = argc > 1 ? atoi(argv[1]) : 128;
  std::vector<float> g(N * O); for (size_t i = 0; i < g.size(); ++i) g[i] = (float)((i * 2654435761u) % 1000) / 997.f - 0.5f;
  int64_t blocks = N / R;
  std::vector<double> p1(blocks * O), p2(blocks * O);
  for (int rep = 0; rep < 3; ++rep) {
    for (auto f : {cur, regv<4>, regv<8>, regv<16>}) {
      auto& p = f == cur ? p1 : p2; const char* nm = f == cur ? "cur" : f == regv<4> ? "reg4" : f == regv<8> ? "reg8" : "reg16";
      double best = 1e9;
      for (int i = 0; i < 200; ++i) {
        std::fill(p.begin(), p.end(), 0.0);
        auto t0 = std::chrono::steady_clock::now();
        f(g.data(), p.data(), N, O);
        auto t1 = std::chrono::steady_clock::now();
        best = std::min(best, std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
      printf("%s %.2f us%s  ", nm, best, f != cur && memcmp(p1.data(), p2.data(), p1.size() * 8) ? " (bits DIFFER)" : "");
    }
    printf("\n");
  }
}
