// The reference loops for the float32 peak: 12 independent chains of 8-wide (AVX2) or 16-wide
// (AVX-512) FMAs from registers, no memory traffic. 12 chains cover the FMA latency (4 cycles) on both
// pipes, so the loop runs at the core's limit of 2 FMA instructions a cycle, at whatever clock the core
// holds: 2 x 8 lanes x 2 flops = 32 flops per cycle with AVX2 (Zen 3, Haswell and later), 64 with
// AVX-512 where the core has two 512-bit pipes (below). Used by ../ceilings/peak.cpp (op fma_peak_gflops) and kernels/dev/gemm_micro.cpp.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace minitorch_clf {

// 12 x iters FMA instructions; returns a value that depends on all of them. noipa: a caller may not
// learn that the call is pure and move it out of its timed interval (GCC did, without it).
__attribute__((target("avx2,fma"), noipa)) inline float fma_chains(int64_t iters, float seed) {
  __m256 c[12];
  for (int r = 0; r < 12; ++r) c[r] = _mm256_set1_ps(seed * static_cast<float>(r + 1));
  const __m256 m = _mm256_set1_ps(0.999f), a = _mm256_set1_ps(1e-6f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int r = 0; r < 12; ++r) c[r] = _mm256_fmadd_ps(c[r], m, a);
  }
  __m256 s = c[0];
  for (int r = 1; r < 12; ++r) s = _mm256_add_ps(s, c[r]);
  return _mm256_cvtss_f32(s);
}

// The same with 16-wide AVX-512 FMAs: 2 pipes x 16 lanes x 2 flops = 64 flops per cycle where the
// core has two 512-bit FMA pipes (Zen 5, Ice Lake-SP and later Xeons), 32 where it splits them.
__attribute__((target("avx512f"), noipa)) inline float fma_chains_avx512(int64_t iters, float seed) {
  __m512 c[12];
  for (int r = 0; r < 12; ++r) c[r] = _mm512_set1_ps(seed * static_cast<float>(r + 1));
  const __m512 m = _mm512_set1_ps(0.999f), a = _mm512_set1_ps(1e-6f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int r = 0; r < 12; ++r) c[r] = _mm512_fmadd_ps(c[r], m, a);
  }
  __m512 s = c[0];
  for (int r = 1; r < 12; ++r) s = _mm512_add_ps(s, c[r]);
  return _mm512_reduce_add_ps(s);
}

// The bf16 dot-product peak (AVX512-BF16): 12 chains of vdpbf16ps, each instruction 16 lanes x 2 products x
// 2 flops = 64 flops, twice an AVX-512 FMA's: the ceiling of the GEMM's bf16 products (gemm_bf16.cpp).
__attribute__((target("avx512f,avx512bf16"), noipa)) inline float bf16_chains(int64_t iters, float seed) {
  __m512 c[12];
  for (int r = 0; r < 12; ++r) c[r] = _mm512_set1_ps(seed * static_cast<float>(r + 1));
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f));
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int r = 0; r < 12; ++r) c[r] = _mm512_dpbf16_ps(c[r], a, a);
  }
  __m512 s = c[0];
  for (int r = 1; r < 12; ++r) s = _mm512_add_ps(s, c[r]);
  return _mm512_reduce_add_ps(s);
}

// The AMX bf16 peak: 6 chains of tdpbf16ps on tiles 0-5, each instruction 16 x 16 lanes x 32 products x
// 2 flops = 16 384 flops, fed by tiles 6 and 7 loaded once (no memory traffic in the loop); 6 chains
// cover the instruction's latency (~52 cycles at one issue per 16 on Sapphire Rapids). The caller has
// asked Linux for the tile state (gemm::cpu_has_amx_bf16). The ceiling of gemm_amx.cpp's products.
__attribute__((target("amx-tile,amx-bf16"), noipa)) inline float amx_chains(int64_t iters, float seed) {
  alignas(64) uint8_t config[64] = {1};              // palette 1; 8 tiles of 16 rows x 64 bytes
  for (int t = 0; t < 8; ++t) config[16 + 2 * t] = 64, config[48 + t] = 16;
  alignas(64) uint16_t operand[16 * 32];
  uint32_t bits;
  __builtin_memcpy(&bits, &seed, 4);
  for (uint16_t& v : operand) v = static_cast<uint16_t>(bits >> 16);
  alignas(64) float sums[16 * 16];
  _tile_loadconfig(config);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_zero(4);
  _tile_zero(5);
  _tile_loadd(6, operand, 64);
  _tile_loadd(7, operand, 64);
  for (int64_t i = 0; i < iters; ++i) {
    _tile_dpbf16ps(0, 6, 7);
    _tile_dpbf16ps(1, 6, 7);
    _tile_dpbf16ps(2, 6, 7);
    _tile_dpbf16ps(3, 6, 7);
    _tile_dpbf16ps(4, 6, 7);
    _tile_dpbf16ps(5, 6, 7);
  }
  _tile_stored(0, sums, 64);
  _tile_release();
  float s = 0.0f;
  for (float v : sums) s += v;
  return s;
}

}  // namespace minitorch_clf
