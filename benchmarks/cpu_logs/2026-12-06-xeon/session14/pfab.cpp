#include <omp.h>
#include <chrono>
#include <cstdio>
#include <vector>
#include <cstdlib>
#include <algorithm>
#include <random>
#include "gemm.h"
namespace minitorch_clf::gemm { extern int mclf_pfb, mclf_pfmode; }
using namespace minitorch_clf::gemm;
int main(int argc, char** argv) {
  int T = atoi(argv[1]); long bs = atol(argv[2]);
  omp_set_num_threads(T);
  auto al = [](size_t n, float v) { float* p = (float*)aligned_alloc(64, (n * 4 + 63) / 64 * 64); for (size_t i = 0; i < n; ++i) p[i] = v; return p; };
  float *X = al(bs * 784, 0.5f), *DZ = al(bs * 128, 0.3f), *C = al(128 * 784, 0.f);
  long M = 128, N = 784, K = bs; View a{DZ, 1, 128}, b{X, 784, 1};
  Split split = (Split)atoi(argv[3]);
  std::vector<int> pfs, modes; for (int i = 4; i < argc; ++i) { int v = atoi(argv[i]); pfs.push_back(v % 100); modes.push_back(v / 100); }
  std::vector<std::vector<double>> t(pfs.size());
  long calls = std::max(10L, (long)(1e8 / (2.0 * M * N * K)));
  std::mt19937 rng(1);
  std::vector<size_t> order(pfs.size()); for (size_t q = 0; q < pfs.size(); ++q) order[q] = q;
  for (int r = 0; r < 15; ++r) { std::shuffle(order.begin(), order.end(), rng); for (size_t q : order) {
    mclf_pfb = pfs[q]; mclf_pfmode = modes[q] ? modes[q] : 1;
    Plan plan{Isa::kAvx512, Kernel::kOuter, 192, T, split};
    sgemm_planned(M, N, K, a, b, C, N, {}, plan);
    auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < calls; ++i) sgemm_planned(M, N, K, a, b, C, N, {}, plan);
    t[q].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / calls);
  } }
  for (size_t q = 0; q < pfs.size(); ++q) { std::sort(t[q].begin(), t[q].end()); printf("T %d dW bs %ld mode %d pf %3d: median %7.1f us  min %7.1f (%.3f of pf 0)\n", T, bs, modes[q], pfs[q], t[q][7] * 1e6, t[q][0] * 1e6, t[q][7] / t[0][7]); }
}
