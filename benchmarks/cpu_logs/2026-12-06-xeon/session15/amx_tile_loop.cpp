// AMX 2x2 block loop alone, one thread, operands in L1: instruction orders compared, and the operands 16 bytes off
// a 64-byte line (OFF=4) against on it; RAND=1 fills random bf16 values instead of ones. Build:
//   g++ -O2 -std=c++17 -mamx-tile -mamx-bf16 -mavx512f amx_tile_loop.cpp -o amx_tile_loop
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <initializer_list>
struct alignas(64) Cfg { uint8_t palette = 1, start = 0; uint8_t res[14] = {}; uint16_t colsb[16] = {}; uint8_t rows[16] = {};
  Cfg() { for (int t = 0; t < 8; ++t) colsb[t] = 64, rows[t] = 16; } };
alignas(64) static uint32_t A[2][16 * 16 * 64];   // kq up to 1024 pairs
alignas(64) static uint32_t B[64 * 32 * 16];
alignas(64) static float C[32 * 32];
template <int ORDER>
__attribute__((noinline)) void run(int64_t kq, int64_t lda) {
  _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
  static const int off = getenv("OFF") ? atoi(getenv("OFF")) : 0;
  const uint32_t* a = A[0] + off;
  const uint32_t* b = B + off;
  const int64_t as = lda * 4, bs = 128;
  for (int64_t q = 0; q < kq; q += 16) {
    if (ORDER == 0) {
      _tile_loadd(4, a + q, as); _tile_loadd(5, a + 16 * lda + q, as);
      _tile_loadd(6, b + q * 32, bs); _tile_loadd(7, b + q * 32 + 16, bs);
      _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7); _tile_dpbf16ps(2, 5, 6); _tile_dpbf16ps(3, 5, 7);
    } else if (ORDER == 1) {
      _tile_loadd(6, b + q * 32, bs); _tile_loadd(4, a + q, as); _tile_dpbf16ps(0, 4, 6);
      _tile_loadd(7, b + q * 32 + 16, bs); _tile_dpbf16ps(1, 4, 7);
      _tile_loadd(5, a + 16 * lda + q, as); _tile_dpbf16ps(2, 5, 6); _tile_dpbf16ps(3, 5, 7);
    } else {
      _tile_loadd(4, a + q, as); _tile_loadd(6, b + q * 32, bs); _tile_dpbf16ps(0, 4, 6);
      _tile_loadd(5, a + 16 * lda + q, as); _tile_dpbf16ps(2, 5, 6);
      _tile_loadd(7, b + q * 32 + 16, bs); _tile_dpbf16ps(1, 4, 7); _tile_dpbf16ps(3, 5, 7);
    }
  }
  _tile_stored(0, C, 128); _tile_stored(1, C + 16, 128); _tile_stored(2, C + 512, 128); _tile_stored(3, C + 528, 128);
}
// no loads at all: 4 tdp per iteration on fixed tiles
__attribute__((noinline)) void run_noload(int64_t kq) {
  _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
  _tile_loadd(4, A[0], 64); _tile_loadd(5, A[0], 64); _tile_loadd(6, B, 64); _tile_loadd(7, B, 64);
  for (int64_t q = 0; q < kq; q += 16) {
    _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7); _tile_dpbf16ps(2, 5, 6); _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, C, 128);
}
template <class F> void time(const char* name, int64_t kq, F f) {
  const int64_t reps = 200000;
  double best = 1e9;
  for (int r = 0; r < 5; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < reps; ++i) f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const double flops = 2.0 * 32 * 32 * 2 * kq * reps;
  printf("%-28s kq %4ld: %7.1f GFLOP/s  %.1f ns per 4 tdp\n", name, kq, flops / best / 1e9, best / reps / (kq / 16) * 1e9);
}
int main() {
  if (syscall(SYS_arch_prctl, 0x1023, 18)) { puts("no AMX permission"); return 2; }
  static Cfg cfg; _tile_loadconfig(&cfg);
  uint32_t s = 12345; auto rnd = [&] { s = s * 1664525u + 1013904223u; uint32_t h = (s >> 16) & 0x807fu; return (h | 0x3c00u) | ((h | 0x3c00u) << 16); };
  if (getenv("RAND")) { for (auto& v : A[0]) v = rnd(); for (auto& v : A[1]) v = rnd(); for (auto& v : B) v = rnd(); } else { for (auto& v : A[0]) v = 0x3f803f80u; for (auto& v : B) v = 0x3f803f80u; }
  for (int64_t kq : {64, 128, 144}) {
    const int64_t lda = kq + 16;
    time("no loads", kq, [&] { run_noload(kq); });
    time("order 0 (loads then 4 tdp)", kq, [&] { run<0>(kq, lda); });
    time("order 1 (B0 A0 T B1 T A1 T T)", kq, [&] { run<1>(kq, lda); });
    time("order 2 (A0 B0 T A1 T B1 T T)", kq, [&] { run<2>(kq, lda); });
  }
}
