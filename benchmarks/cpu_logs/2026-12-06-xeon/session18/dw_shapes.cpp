// fc1's dW = dzᵀ·x as gemm_outer_block.h loops over it (a copy for a probe), the register tile's shape a parameter:
// R rows x 16V columns, B panels 16V wide (N = 768 so that 32, 48 and 64 divide it), A in R-row panels, C updated per
// K block of 192. One thread, no torch, every buffer on a 64-byte line.
//   g++ -O3 -std=c++17 -ffp-contract=off dw_shapes.cpp -o dw_shapes && ./dw_shapes K LDX MODE PACK_A SHAPE
//   LDX: x's row stride (784); MODE 0: B (x) read in place, 1: each panel copied first, 2: in place with the next
//   panel requested into L2 by its last tile; PACK_A 1: A (dzᵀ) packed per K block from dz as the kernel does, 0: one
//   packed block reused;
//   SHAPE 0: 8 x 32 (the kernel's), 1: 8 x 48, 2: 6 x 64 (126 of the 128 rows), 3: 12 x 32 (120 rows),
//   4: 12 x 32 and one 8 x 32 tile for the last 8 rows (all 128, as the kernel would run M = 128)
#include <immintrin.h>
#include "probe_timing.h"
#include "probe_tile.h"
static bool EDGE = false;   // shape 4: the last 8 rows by an 8 x 32 tile
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <algorithm>
#include <new>
template <int R, int V> double run(long K, long LDX, int mode, bool packa, float* x, float* dz, float* C, float* apack, float* bpack, long M, long N, long kb) {
  constexpr long NRw = 16 * V;
  return best([&] {
    for (long k0 = 0; k0 < K; k0 += kb) {
      const long kn = std::min(kb, K - k0);
      if (packa) { for (long t = 0; t < M / R; ++t) { const float* src = dz + k0 * M + t * R; float* panel = apack + t * kn * R;
          for (long k = 0; k < kn; ++k, src += M, panel += R) for (int r = 0; r < R; ++r) panel[r] = src[r]; } }
      for (long j = 0; j + NRw <= N; j += NRw) {
        const float* b = x + k0 * LDX + j; long ldb = LDX;
        if (mode == 1) { for (long k = 0; k < kn; ++k) std::memcpy(bpack + k * NRw, b + k * LDX, NRw * 4); b = bpack; ldb = NRw; }
        long i = 0;
        for (; i + R <= M; i += R) {
          if (mode == 2 && i + 2 * R > M && j + 2 * NRw <= N) tile<true, R, V>(apack + i * kn, b, ldb, kn, C + i * N + j, N, k0 == 0, b + NRw);
          else tile<false, R, V>(apack + i * kn, b, ldb, kn, C + i * N + j, N, k0 == 0, nullptr);
        }
        if constexpr (V == 2) if (EDGE && M - i == 8) tile<false, 8, 2>(apack + i * kn, b, ldb, kn, C + i * N + j, N, k0 == 0, nullptr);
      }
    }
  });
}

int main(int argc, char** argv) {
  const long K = argc > 1 ? atol(argv[1]) : 256, M = 128, N = 768, LDX = argc > 2 ? atol(argv[2]) : 784, kb = 192;
  const int mode = argc > 3 ? atoi(argv[3]) : 0; const bool packa = argc > 4 && atoi(argv[4]);   // 0 in place, 1 packed panel per panel, 2 in place + fetch next
  Aligned<float> x(K * LDX + 64, 0.5f);
  Aligned<float> dz(K * M + 64, 0.1f), C(M * N), apack(M * kb + 64, 0.25f), bpack(kb * 64 + 64);
  const long ref_iters = 20000000; volatile float sink = chains(ref_iters / 10);
  double ref = best([&] { sink = chains(ref_iters); });
  const double s_fma = ref / (12.0 * ref_iters);
  const int shape = argc > 5 ? atoi(argv[5]) : 0;   // 0: 8x32, 1: 8x48, 2: 6x64, 3: 12x32
  double s = 0; long Mu = M;
  if (shape == 0) s = run<8, 2>(K, LDX, mode, packa, x.data(), dz.data(), C.data(), apack.data(), bpack.data(), M, N, kb);
  if (shape == 1) s = run<8, 3>(K, LDX, mode, packa, x.data(), dz.data(), C.data(), apack.data(), bpack.data(), M, N, kb);
  if (shape == 2) { Mu = 126; s = run<6, 4>(K, LDX, mode, packa, x.data(), dz.data(), C.data(), apack.data(), bpack.data(), M, N, kb); }
  if (shape == 4) { EDGE = true; Mu = 128; s = run<12, 2>(K, LDX, mode, packa, x.data(), dz.data(), C.data(), apack.data(), bpack.data(), M, N, kb); }
  if (shape == 3) { Mu = 120; s = run<12, 2>(K, LDX, mode, packa, x.data(), dz.data(), C.data(), apack.data(), bpack.data(), M, N, kb); }
  const double fmas_u = double(Mu) * N * K / 16;
  printf("shape=%d packa=%d K=%ld ldx=%ld mode=%d: %.0f%% of peak (%.1f GFLOP/s)\n", shape, (int)packa, K, LDX, mode, 100 * s_fma / (s / fmas_u), 32 * fmas_u / s / 1e9);
}
