// The float32 FMA peak of a GPU, measured: every thread runs 16 independent FMA chains from registers,
// no memory traffic until its one store. 16 chains per thread, 256 threads a block and several blocks
// an SM keep every FP32 lane issuing an FMA each cycle (latency ~4 cycles, covered many times over),
// so flops / time approaches  SMs x FP32 lanes per SM x 2 x clock.
#include "kernels.h"

namespace minitorch_clf {
namespace cuda {
namespace {

__global__ void fma_chains_kernel(float* __restrict__ out, int64_t n, int64_t iters) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float c[kFmaChains];
#pragma unroll
  for (int r = 0; r < kFmaChains; ++r) c[r] = 1e-3f * static_cast<float>(r + 1 + (i & 7));
  const float m = 0.999f, a = 1e-6f;
  for (int64_t k = 0; k < iters; ++k) {
#pragma unroll
    for (int r = 0; r < kFmaChains; ++r) c[r] = fmaf(c[r], m, a);
  }
  float s = 0.f;
#pragma unroll
  for (int r = 0; r < kFmaChains; ++r) s += c[r];
  out[i] = s;                         // depends on every FMA: nothing can be left out
}

}  // namespace

cudaError_t fma_chains(float* out, int64_t n, int64_t iters, cudaStream_t stream) {
  constexpr int kThreads = 256;
  const unsigned blocks = static_cast<unsigned>((n + kThreads - 1) / kThreads);
  fma_chains_kernel<<<blocks, kThreads, 0, stream>>>(out, n, iters);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace minitorch_clf
