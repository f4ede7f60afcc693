// Softmax cross-entropy forward + backward in one kernel, one warp per row, pure CUDA.
//   logits (N, C), target (N,) -> row_loss (N,), dlogits (N, C);  then loss () = mean of row_loss
#include <cmath>

#include "kernels.h"

namespace minitorch_clf {
namespace cuda {
namespace {

constexpr int kRowsPerBlock = 8;          // 8 warps of 32 threads

template <typename T>
__device__ T warp_max(T v) {
  for (int offset = 16; offset > 0; offset /= 2) v = max(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

template <typename T>
__device__ T warp_sum(T v) {              // butterfly: every lane ends with the same, fixed-order sum
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Lane l of the warp for row n handles classes l, l + 32, ...:  m = max z,  s = sum exp(z - m),
// row_loss = m + log s - z_y,  dlogits_c = (exp(z_c - m) / s - 1[c = y]) / N.
template <typename T>
__global__ void cross_entropy_rows_kernel(const T* __restrict__ logits, const int64_t* __restrict__ target,
                                          T* __restrict__ row_loss, T* __restrict__ dlogits, int* __restrict__ bad,
                                          int64_t N, int64_t C) {
  const int lane = threadIdx.x % 32;
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (n >= N) return;                     // whole warps leave together: the shuffles stay full
  const T* z = logits + n * C;
  int64_t y = target[n];
  if (y < 0 || y >= C) {
    if (lane == 0) *bad = 1;              // reported by the host; never a device-side assert
    y = 0;
  }
  T m = -INFINITY;
  for (int64_t c = lane; c < C; c += 32) m = max(m, z[c]);
  m = warp_max(m);
  T s = T(0);
  for (int64_t c = lane; c < C; c += 32) s += exp(z[c] - m);
  s = warp_sum(s);
  const T inv_n = T(1) / static_cast<T>(N), scale = inv_n / s;
  for (int64_t c = lane; c < C; c += 32) dlogits[n * C + c] = exp(z[c] - m) * scale - (c == y ? inv_n : T(0));
  if (lane == 0) row_loss[n] = m + log(s) - z[y];
}

// One block of 1024 threads: strided sums in order, then a fixed shared-memory tree. Deterministic.
template <typename T>
__global__ void mean_kernel(const T* __restrict__ row_loss, T* __restrict__ loss, int64_t N) {
  __shared__ T part[1024];
  T s = T(0);
  for (int64_t n = threadIdx.x; n < N; n += blockDim.x) s += row_loss[n];
  part[threadIdx.x] = s;
  __syncthreads();
  for (int width = blockDim.x / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) part[threadIdx.x] += part[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0) *loss = part[0] / static_cast<T>(N);
}

}  // namespace

template <typename T>
cudaError_t cross_entropy_forward_backward(const T* logits, const int64_t* target, T* row_loss, T* loss,
                                           T* dlogits, int* bad, int64_t N, int64_t C, cudaStream_t stream) {
  if (N > 0) {
    const unsigned blocks = static_cast<unsigned>((N + kRowsPerBlock - 1) / kRowsPerBlock);
    cross_entropy_rows_kernel<T><<<blocks, kRowsPerBlock * 32, 0, stream>>>(logits, target, row_loss, dlogits, bad,
                                                                            N, C);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
  }
  mean_kernel<T><<<1, 1024, 0, stream>>>(row_loss, loss, N);
  return cudaGetLastError();
}

template cudaError_t cross_entropy_forward_backward<float>(const float*, const int64_t*, float*, float*, float*,
                                                           int*, int64_t, int64_t, cudaStream_t);
template cudaError_t cross_entropy_forward_backward<double>(const double*, const int64_t*, double*, double*,
                                                            double*, int*, int64_t, int64_t, cudaStream_t);

}  // namespace cuda
}  // namespace minitorch_clf
