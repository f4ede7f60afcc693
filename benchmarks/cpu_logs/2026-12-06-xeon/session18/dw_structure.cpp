// fc1's dW structure on one thread, no torch (a copy of gemm_outer_block.h's loop around the 8 x 32 tile, every buffer on
// a 64-byte line): A packed (M x kb as 8-row tile panels), B = x rows in place (ld 784) or a packed
// 32-wide panel, C (M x N) updated per K block; panel by panel, 16 tiles each. Cycles against FMA chains.
//   g++ -O3 -std=c++17 -ffp-contract=off dw_structure.cpp -o dws && ./dws K LDX MODE PACK_A
//   MODE 0: B (x) read in place, 1: each panel copied first, 2: in place with the next panel requested into L2
//   PACK_A 1: A (dzᵀ) packed per K block from dz as the kernel does, 0: one packed block reused
#include <immintrin.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <algorithm>
#include <new>
template <class T> struct AA { using value_type = T; AA() = default; template <class U> AA(const AA<U>&) {} T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); } void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); } bool operator==(const AA&) const { return true; } bool operator!=(const AA&) const { return false; } };
using clk = std::chrono::steady_clock;
template <class F> double best(F f, int reps = 9) { double b = 1e9; for (int r = 0; r < reps; ++r) { auto t0 = clk::now(); f(); b = std::min(b, std::chrono::duration<double>(clk::now() - t0).count()); } return b; }
__attribute__((target("avx512f,fma"), noinline)) float chains(long n) {
  __m512 a[12]; for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(1.0f + i);
  const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-3f);
  for (long i = 0; i < n; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) a[j] = _mm512_fmadd_ps(a[j], m, c);
  }
  __m512 s = a[0]; for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, a[i]);
  return _mm512_reduce_add_ps(s);
}
template <bool kFetch>
__attribute__((target("avx512f,fma"), noinline)) void tile(const float* a, const float* b, long ldb, long kn, float* c, long ldc, bool first, const float* bn) {
  __m512 acc0[8], acc1[8];
#pragma GCC unroll 8
  for (int r = 0; r < 8; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (long k = 0; k < kn; ++k, a += 8, b += ldb) {
    if (kFetch) { _mm_prefetch((const char*)bn, _MM_HINT_T1); _mm_prefetch((const char*)(bn + 16), _MM_HINT_T1); bn += ldb; }
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 8
    for (int r = 0; r < 8; ++r) { const __m512 ar = _mm512_set1_ps(a[r]); acc0[r] = _mm512_fmadd_ps(ar, b0, acc0[r]); acc1[r] = _mm512_fmadd_ps(ar, b1, acc1[r]); }
  }
#pragma GCC unroll 8
  for (int r = 0; r < 8; ++r) {
    if (!first) { acc0[r] = _mm512_add_ps(acc0[r], _mm512_loadu_ps(c + r * ldc)); acc1[r] = _mm512_add_ps(acc1[r], _mm512_loadu_ps(c + r * ldc + 16)); }
    _mm512_storeu_ps(c + r * ldc, acc0[r]); _mm512_storeu_ps(c + r * ldc + 16, acc1[r]);
  }
}
int main(int argc, char** argv) {
  const long K = argc > 1 ? atol(argv[1]) : 256, M = 128, N = 768, LDX = argc > 2 ? atol(argv[2]) : 784, kb = 192;
  const int mode = argc > 3 ? atoi(argv[3]) : 0; const bool packa = argc > 4 && atoi(argv[4]);   // 0 in place, 1 packed panel per panel, 2 in place + fetch next
  std::vector<float, AA<float>> x(K * LDX + 64, 0.5f);
  std::vector<float, AA<float>> dz(K * M + 64, 0.1f), C(M * N), apack(M * kb + 64, 0.25f), bpack(kb * 32 + 64);
  const long ref_iters = 20000000; volatile float sink = chains(ref_iters / 10);
  double ref = best([&] { sink = chains(ref_iters); });
  const double s_fma = ref / (12.0 * ref_iters);
  const double fmas = double(M) * N * K / 16;
  double s = best([&] {
    for (long k0 = 0; k0 < K; k0 += kb) {
      const long kn = std::min(kb, K - k0);
      if (packa) {   // A = dzᵀ: element (i, k) at dz[k * M + i]; panels of 8 rows, k-major
        for (long t = 0; t < M / 8; ++t) { const float* src = dz.data() + k0 * M + t * 8; float* panel = apack.data() + t * kn * 8;
          for (long k = 0; k < kn; ++k, src += M, panel += 8) for (int r = 0; r < 8; ++r) panel[r] = src[r]; }
      }
      for (long j = 0; j < N; j += 32) {
        const float* b = x.data() + k0 * LDX + j; long ldb = LDX;
        if (mode == 1) { for (long k = 0; k < kn; ++k) { std::memcpy(bpack.data() + k * 32, b + k * LDX, 128); } b = bpack.data(); ldb = 32; }
        for (long i = 0; i < M; i += 8) {
          if (mode == 2 && i + 8 == M && j + 32 < N) tile<true>(apack.data() + i * kn, b, ldb, kn, C.data() + i * N + j, N, k0 == 0, b + 32);
          else tile<false>(apack.data() + i * kn, b, ldb, kn, C.data() + i * N + j, N, k0 == 0, nullptr);
        }
      }
    }
  });
  printf("packa=%d K=%ld ldx=%ld mode=%d: %.0f%% of peak (%.1f GFLOP/s)\n", (int)packa, K, LDX, mode, 100 * s_fma / (s / fmas), 32 * fmas / s / 1e9);
}
