#include <immintrin.h>
#include <omp.h>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>
#include <algorithm>
using namespace std::chrono;
constexpr int D = 784;
void gather_plain(const float* X, const long* idx, int n, float* out) {
#pragma omp parallel for schedule(static)
  for (int r = 0; r < n; ++r) std::memcpy(out + (long)r * D, X + idx[r] * D, D * 4);
}
template <int AHEAD>
void gather_pf(const float* X, const long* idx, int n, float* out) {
#pragma omp parallel
  {
    const int T = omp_get_num_threads(), t = omp_get_thread_num();
    const int chunk = (n + T - 1) / T, r0 = t * chunk, r1 = std::min(n, r0 + chunk);
    for (int r = r0; r < std::min(r1, r0 + AHEAD); ++r)
      for (int l = 0; l < D * 4; l += 64) _mm_prefetch((const char*)(X + idx[r] * D) + l, _MM_HINT_T0);
    for (int r = r0; r < r1; ++r) {
      if (r + AHEAD < r1)
        for (int l = 0; l < D * 4; l += 64) _mm_prefetch((const char*)(X + idx[r + AHEAD] * D) + l, _MM_HINT_T0);
      std::memcpy(out + (long)r * D, X + idx[r] * D, D * 4);
    }
  }
}
int main() {
  const long N = 60000;
  std::vector<float> X(N * D, 1.0f);
  std::vector<long> perm(N);
  for (long i = 0; i < N; ++i) perm[i] = i;
  std::shuffle(perm.begin(), perm.end(), std::mt19937(1));
  for (int bs : {64, 256, 1024}) {
    std::vector<float> out(bs * D);
    auto run = [&](auto f, const char* name) {
      double best = 1e9, sum = 0; int cnt = 0;
      for (int rep = 0; rep < 3; ++rep) {
        auto t0 = steady_clock::now();
        for (long k = 0; k + bs <= N; k += bs) f(X.data(), perm.data() + k, bs, out.data());
        double per = duration<double>(steady_clock::now() - t0).count() / (N / bs) * 1e6;
        best = std::min(best, per);
      }
      printf("batch %4d %-14s %7.1f us per batch (%.1f GB/s)\n", bs, name, best, bs * D * 4 / best / 1e3);
    };
    run(gather_plain, "memcpy rows");
    run(gather_pf<2>, "prefetch 2");
    run(gather_pf<4>, "prefetch 4");
    run(gather_pf<8>, "prefetch 8");
  }
}
