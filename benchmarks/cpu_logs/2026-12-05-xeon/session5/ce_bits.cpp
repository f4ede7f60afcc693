// The AVX-512 cross-entropy of kernels/cpu/cross_entropy.cpp: the one-row-per-register kernel of commit
// 289a5eb (oldk) against the sixteen-rows-at-once kernel of 243bca4 (newk), their text pasted from the two
// commits. Checks that they give the same bits (gradient and loss, NaN/inf logits and ignored rows
// included), then times both on one thread in turns. Built from kernels/cpu/gemm (transpose16):
//   g++ -O3 -std=c++17 -ffp-contract=off -fno-math-errno -I. ce_bits.cpp -o ce_bits
#include <immintrin.h>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdint>
#include <random>
#include <algorithm>
#include <chrono>
#include <vector>
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,fma")
#include "gemm_avx512_common.h"
#pragma GCC pop_options
namespace minitorch_clf { namespace oldk {
__attribute__((target("avx512f"))) inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-87.3f), x);
  x = _mm512_min_ps(_mm512_set1_ps(88.3f), x);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

__attribute__((target("avx512f"))) double cross_entropy_row16(const float* z, float* dz, int64_t C, int64_t y,
                                                             float inv_n) {
  const __mmask16 live = static_cast<__mmask16>((1u << C) - 1u);
  const __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), live, z);
  const float m = _mm512_reduce_max_ps(v);
  const __m512 e = _mm512_maskz_mov_ps(live, exp16(_mm512_sub_ps(v, _mm512_set1_ps(m))));
  const float s = _mm512_reduce_add_ps(e);
  __m512 d = _mm512_mul_ps(e, _mm512_set1_ps(inv_n / s));
  d = _mm512_mask_sub_ps(d, static_cast<__mmask16>(1u << y), d, _mm512_set1_ps(inv_n));
  _mm512_mask_storeu_ps(dz, live, d);
  return double(m) + std::log(double(s)) - double(z[y]);
}

} namespace newk {
__attribute__((target("avx512f,avx512vl,fma"))) inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-87.3f), x);
  x = _mm512_min_ps(_mm512_set1_ps(88.3f), x);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

__attribute__((target("avx512f,avx512vl,fma"))) void cross_entropy_rows16(const float* z, float* dz, int64_t rows, int64_t C,
                                                            const int64_t* y, int64_t ignore_index, float inv_n,
                                                            double* row_loss) {
  const __mmask16 classes = static_cast<__mmask16>((1u << C) - 1u), live = static_cast<__mmask16>((1u << rows) - 1u);
  __m512 r[16];
  for (int i = 0; i < 16; ++i)
    r[i] = i < rows ? _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), classes, z + i * C) : _mm512_setzero_ps();
  gemm::transpose16(r);                                          // r[c] lane i: row i's logit of class c
  // the targets as 32-bit lanes, and the rows that count (targets compared in 64 bits: ignore_index may not fit 32)
  const __m512i y_lo = _mm512_maskz_loadu_epi64(static_cast<__mmask8>(live), y);
  const __m512i y_hi = _mm512_maskz_loadu_epi64(static_cast<__mmask8>(live >> 8), y + 8);
  const __m512i ignore = _mm512_set1_epi64(ignore_index);
  const __mmask16 counted = live & static_cast<__mmask16>(~(_mm512_cmpeq_epi64_mask(y_lo, ignore) |
                                                           (_mm512_cmpeq_epi64_mask(y_hi, ignore) << 8)));
  const __m512i target = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(y_lo)),
                                            _mm512_cvtepi64_epi32(y_hi), 1);
  __m512 m = r[0];
  for (int64_t c = 1; c < C; ++c) m = _mm512_max_ps(m, r[c]);
  __m512 e[16], zy = _mm512_setzero_ps();
  for (int c = 0; c < 16; ++c) {
    if (c >= C) {
      e[c] = _mm512_setzero_ps();
      continue;
    }
    e[c] = exp16(_mm512_sub_ps(r[c], m));
    zy = _mm512_mask_mov_ps(zy, _mm512_cmpeq_epi32_mask(target, _mm512_set1_epi32(c)), r[c]);
  }
  __m512 t[8];
  for (int c = 0; c < 8; ++c) t[c] = _mm512_add_ps(e[c + 8], e[c]);
  for (int c = 0; c < 4; ++c) t[c] = _mm512_add_ps(t[c + 4], t[c]);
  const __m512 s = _mm512_add_ps(_mm512_add_ps(t[2], t[0]), _mm512_add_ps(t[3], t[1]));
  const __m512 scale = _mm512_div_ps(_mm512_set1_ps(inv_n), s), n = _mm512_set1_ps(inv_n);
  for (int64_t c = 0; c < C; ++c) {
    const __m512 d = _mm512_mul_ps(e[c], scale);
    r[c] = _mm512_maskz_mov_ps(counted, _mm512_mask_sub_ps(d, _mm512_cmpeq_epi32_mask(target, _mm512_set1_epi32(int(c))), d, n));
  }
  for (int64_t c = C; c < 16; ++c) r[c] = _mm512_setzero_ps();
  gemm::transpose16(r);                                          // back: r[i] lane c, row i's gradient
  for (int i = 0; i < rows; ++i) _mm512_mask_storeu_ps(dz + i * C, classes, r[i]);
  alignas(64) float ms[16], ss[16], zs[16];
  _mm512_store_ps(ms, m);
  _mm512_store_ps(ss, s);
  _mm512_store_ps(zs, zy);
  for (int i = 0; i < rows; ++i)
    row_loss[i] = (counted >> i) & 1 ? double(ms[i]) + std::log(double(ss[i])) - double(zs[i]) : 0.0;
}

} }
using namespace minitorch_clf;
int main(){
  std::mt19937 g(3); std::normal_distribution<float> nd(0,1); std::uniform_int_distribution<int> ui(0,1000);
  long bad=0, total=0;
  for (int trial=0; trial<20000; ++trial){
    int C = 1 + trial % 16; int rows = 1 + (trial/16) % 16; float sc = std::pow(10.f, (trial%7)-3);
    float z[16*16], dz_old[16*16], dz_new[16*16]; int64_t y[16]; double l_old[16], l_new[16];
    for (int i=0;i<rows*C;++i) z[i]=nd(g)*sc;
    for (int i=0;i<rows;++i){ y[i]= ui(g)%C; if (ui(g)<50) y[i]=-100; if (ui(g)<10) z[i*C+ui(g)%C]= (ui(g)%2)? NAN : INFINITY; }
    int counted=0; for (int i=0;i<rows;++i) counted += y[i]!=-100;
    float inv_n = 1.0f/float(std::max(counted,1));
    for (int i=0;i<rows;++i){ if (y[i]==-100){ std::fill(dz_old+i*C, dz_old+(i+1)*C, 0.f); l_old[i]=0;} else l_old[i]=oldk::cross_entropy_row16(z+i*C, dz_old+i*C, C, y[i], inv_n);}
    newk::cross_entropy_rows16(z, dz_new, rows, C, y, -100, inv_n, l_new);
    for (int i=0;i<rows;++i){ ++total;
      bool same = std::memcmp(dz_old+i*C, dz_new+i*C, 4*C)==0 || (std::isnan(dz_old[i*C]) && std::isnan(dz_new[i*C]));
      bool lsame = std::memcmp(&l_old[i], &l_new[i], 8)==0 || (std::isnan(l_old[i]) && std::isnan(l_new[i]));
      if(!same||!lsame){ if(bad<5) printf("differ: trial %d row %d C %d y %ld loss %.17g vs %.17g\n", trial,i,C,(long)y[i],l_old[i],l_new[i]); ++bad; }
    }
  }
  printf("%ld of %ld rows differ\n", bad, total);
  // the two kernels timed in turns on one thread: N rows of 10 classes, best of 9 rounds each
  for (int N : {64, 1024}) {
    std::vector<float> z(N * 10), dz(N * 10); std::vector<int64_t> y(N); std::vector<double> l(N);
    for (auto& v : z) v = nd(g) * 3; for (auto& v : y) v = ui(g) % 10;
    const float inv_n = 1.0f / N;
    auto old_pass = [&] { for (int n = 0; n < N; ++n) l[n] = oldk::cross_entropy_row16(&z[n * 10], &dz[n * 10], 10, y[n], inv_n); };
    auto new_pass = [&] { for (int n = 0; n < N; n += 16) newk::cross_entropy_rows16(&z[n * 10], &dz[n * 10], std::min(16, N - n), 10, &y[n], -100, inv_n, &l[n]); };
    double best_old = 1e9, best_new = 1e9;
    const int reps = 200000 / N;
    for (int round = 0; round < 9; ++round) {
      for (int which = 0; which < 2; ++which) {
        auto t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < reps; ++r) which ? new_pass() : old_pass();
        double us = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps * 1e6;
        (which ? best_new : best_old) = std::min(which ? best_new : best_old, us);
      }
    }
    printf("N %4d rows, one thread: one row per register %7.2f us, sixteen rows at once %7.2f us (%.1fx)\n", N, best_old, best_new, best_old / best_new);
  }
}
