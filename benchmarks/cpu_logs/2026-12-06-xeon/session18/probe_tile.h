// The register tile of this folder's C++ probes: C[0:R, 0:16V] (+)= A · B over kn values of k, A packed (R floats a
// k), B rows of 16V floats ldb apart; the sums added to C unless `first`. kFetch: each k also asks for the same k-row
// of the next panel (bn) in L2, as the kernel's last tile of a panel does (gemm_outer_block.h's b_next).
#pragma once
#include <immintrin.h>

template <bool kFetch, int R, int V>
__attribute__((target("avx512f,fma"), noinline)) void tile(const float* a, const float* b, long ldb, long kn, float* c, long ldc, bool first, const float* bn) {
  __m512 acc[R][V];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  for (long k = 0; k < kn; ++k, a += R, b += ldb) {
    if (kFetch) {
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) _mm_prefetch((const char*)(bn + 16 * v), _MM_HINT_T1);
      bn += ldb; }
    __m512 bv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) bv[v] = _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) { const __m512 ar = _mm512_set1_ps(a[r]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]); }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      if (!first) acc[r][v] = _mm512_add_ps(acc[r][v], _mm512_loadu_ps(c + r * ldc + 16 * v));
      _mm512_storeu_ps(c + r * ldc + 16 * v, acc[r][v]);
    }
}
