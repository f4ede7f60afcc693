// The eight products of a SimpleNet step, back to back through gemm::sgemm, as a C function for eight_loop.py to
// call through ctypes on the same tensors mlp_products reads: out0 the outputs to write (or, fresh != 0, new
// 64-byte aligned ones each call, freed after). Built with the GEMM's sources (its own copy: derived plans).
//   g++ -O3 -fopenmp -fPIC -shared -std=c++17 -ffp-contract=off -I../../../../kernels/cpu/gemm eight_loop.cpp \
//       $(ls ../../../../kernels/cpu/gemm/gemm*.cpp | grep -v gemm_op) -o /tmp/eight_loop.so
#include <chrono>
#include <vector>
#include <cstdlib>
#include "gemm.h"
using namespace minitorch_clf::gemm;
// ptrs: x0 x1 x2 w0 w1 w2 dz0 dz1 dz2 ; outs: 8 output pointers (or all the same)
extern "C" double eight(double secs, float** p, float** out0, long B, int fresh) {
  const long in[] = {784, 128, 64}, o[] = {128, 64, 10};
  auto run = [&] {
    float* out[8]; int q = 0;
    const long sizes[8] = {B*128, B*64, B*10, 128*784, 64*128, 10*64, B*128, B*64};
    for (int i = 0; i < 8; ++i) out[i] = fresh ? (float*)aligned_alloc(64, (sizes[i]*4 + 63) / 64 * 64) : out0[i];
    for (int k = 0; k < 3; ++k) sgemm(B, o[k], in[k], {p[k], in[k], 1}, {p[3 + k], 1, in[k]}, out[q++], o[k]);
    for (int k = 0; k < 3; ++k) sgemm(o[k], in[k], B, {p[6 + k], 1, o[k]}, {p[k], in[k], 1}, out[q++], in[k]);
    for (int k = 1; k < 3; ++k) sgemm(B, in[k], o[k], {p[6 + k], o[k], 1}, {p[3 + k], in[k], 1}, out[q++], in[k]);
    if (fresh) for (int i = 0; i < 8; ++i) free(out[i]);
  };
  for (int i = 0; i < 50; ++i) run();
  auto t0 = std::chrono::steady_clock::now(); double best = 1e9;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < secs) {
    auto a = std::chrono::steady_clock::now();
    for (int i = 0; i < 50; ++i) run();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count() / 50);
  }
  return best * 1e6;
}
