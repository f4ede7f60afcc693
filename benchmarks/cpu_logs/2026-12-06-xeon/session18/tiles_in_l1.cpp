// The AVX-512 outer tile's k loop alone (gemm_avx512.cpp's 8 x 32, copied for a probe) and wider register tiles, operands
// in L1 on 64-byte lines, one thread; cycles per FMA instruction against FMA chains (0.5 = the peak of 2 a cycle).
//   g++ -O3 -std=c++17 -ffp-contract=off tiles_in_l1.cpp -o tiles && ./tiles K M
#include <immintrin.h>
#include "probe_timing.h"
#include "probe_tile.h"
#include <chrono>
#include <cstdio>
#include <vector>
#include <algorithm>
#include <new>


// The kernel's form: R rows x 2 vectors, A's strides known at run time (broadcast a[r * a_rs])
template <int R>
__attribute__((target("avx512f,fma"), noinline)) void tile_strided(const float* a, long a_rs, long a_cs, const float* b, long ldb, long kn, float* c, long ldc) {
  __m512 acc0[R], acc1[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (long k = 0; k < kn; ++k, a += a_cs, b += ldb) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) { const __m512 ar = _mm512_set1_ps(a[r * a_rs]); acc0[r] = _mm512_fmadd_ps(ar, b0, acc0[r]); acc1[r] = _mm512_fmadd_ps(ar, b1, acc1[r]); }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) { _mm512_storeu_ps(c + r * ldc, _mm512_add_ps(_mm512_loadu_ps(c + r * ldc), acc0[r])); _mm512_storeu_ps(c + r * ldc + 16, _mm512_add_ps(_mm512_loadu_ps(c + r * ldc + 16), acc1[r])); }
}
int main(int argc, char** argv) {
  const long K = argc > 1 ? atol(argv[1]) : 128, M = argc > 2 ? atol(argv[2]) : 32;
  Aligned<float> A(M * K + 64, 0.5f);
  Aligned<float> B(K * 64 + 64, 0.25f), C(M * 64, 0.f);
  const long ref_iters = 20000000;
  volatile float sink = chains(ref_iters / 10);
  double ref = best([&] { sink = chains(ref_iters); });
  const double s_fma = ref / (12.0 * ref_iters);
  auto report = [&](const char* name, double s, double fmas) { printf("%-34s %.3f cycles/FMA (%.0f%% of peak)\n", name, 0.5 * (s / fmas) / s_fma, 100 * s_fma / (s / fmas)); };
  const long reps = 20000;
  // unpacked A: rows of K floats
  report("in place A (a_rs=K), 8x32", best([&] { for (long i = 0; i < reps; ++i) for (long t = 0; t + 8 <= M; t += 8) tile_strided<8>(A.data() + t * K, K, 1, B.data(), 32, K, C.data() + t * 64, 64); }), double(reps) * (M / 8) * K * 16);
  report("packed A runtime stride, 8x32", best([&] { for (long i = 0; i < reps; ++i) for (long t = 0; t + 8 <= M; t += 8) tile_strided<8>(A.data() + t * K, 1, 8, B.data(), 32, K, C.data() + t * 64, 64); }), double(reps) * (M / 8) * K * 16);
  report("packed A const stride, 8x32", best([&] { for (long i = 0; i < reps; ++i) for (long t = 0; t + 8 <= M; t += 8) tile<false, 8, 2>(A.data() + t * K, B.data(), 32, K, C.data() + t * 64, 64, false, nullptr); }), double(reps) * (M / 8) * K * 16);
  report("packed 12x32", best([&] { for (long i = 0; i < reps; ++i) for (long t = 0; t + 12 <= M; t += 12) tile<false, 12, 2>(A.data() + t * K, B.data(), 32, K, C.data() + t * 64, 64, false, nullptr); }), double(reps) * (M / 12) * K * 24);
  report("packed 8x48", best([&] { for (long i = 0; i < reps; ++i) for (long t = 0; t + 8 <= M; t += 8) tile<false, 8, 3>(A.data() + t * K, B.data(), 48, K, C.data() + t * 64, 64, false, nullptr); }), double(reps) * (M / 8) * K * 24);
  report("packed 6x64", best([&] { for (long i = 0; i < reps; ++i) for (long t = 0; t + 6 <= M; t += 6) tile<false, 6, 4>(A.data() + t * K, B.data(), 64, K, C.data() + t * 64, 64, false, nullptr); }), double(reps) * (M / 6) * K * 24);
  report("packed 4x64", best([&] { for (long i = 0; i < reps; ++i) for (long t = 0; t + 4 <= M; t += 4) tile<false, 4, 4>(A.data() + t * K, B.data(), 64, K, C.data() + t * 64, 64, false, nullptr); }), double(reps) * (M / 4) * K * 16);
  report("packed 14x32", best([&] { for (long i = 0; i < reps; ++i) for (long t = 0; t + 14 <= M; t += 14) tile<false, 14, 2>(A.data() + t * K, B.data(), 32, K, C.data() + t * 64, 64, false, nullptr); }), double(reps) * (M / 14) * K * 28);
  printf("reference: %.2f GHz-equivalent (2 FMA/cycle)\n", 1.0 / (2 * s_fma) / 1e9);
}
