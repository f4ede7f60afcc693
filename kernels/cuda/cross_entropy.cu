// Softmax cross-entropy forward + backward, one warp per row, pure CUDA.
//   logits (N, C), target (N,) -> dlogits (N, C), loss () = mean of the rows' losses
// A batch of up to kCrossEntropyOneBlockRows rows takes one launch; more take two (rows, then the mean).
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

// One row, by one warp: lane l handles classes l, l + 32, ...:  m = max z,  s = sum exp(z - m),
// dlogits_c = (exp(z_c - m) / s - 1[c = y]) / N; returns row_loss = m + log s - z_y (in every lane).
// A target outside [0, C) is read as class 0 here; the caller flags it.
template <typename T>
__device__ T cross_entropy_row(const T* __restrict__ z, int64_t y, T* __restrict__ dz, int64_t N, int64_t C) {
  const int lane = threadIdx.x % 32;
  if (y < 0 || y >= C) y = 0;
  T m = -INFINITY;
  for (int64_t c = lane; c < C; c += 32) m = max(m, z[c]);
  m = warp_max(m);
  T s = T(0);
  for (int64_t c = lane; c < C; c += 32) s += exp(z[c] - m);
  s = warp_sum(s);
  const T inv_n = T(1) / static_cast<T>(N), scale = inv_n / s;
  for (int64_t c = lane; c < C; c += 32) dz[c] = exp(z[c] - m) * scale - (c == y ? inv_n : T(0));
  return m + log(s) - z[y];
}

__device__ bool outside(int64_t y, int64_t C) { return y < 0 || y >= C; }

// Many rows: one warp per row, kRowsPerBlock rows per block, each row's loss to row_loss.
template <typename T>
__global__ void cross_entropy_rows_kernel(const T* __restrict__ logits, const int64_t* __restrict__ target,
                                          T* __restrict__ row_loss, T* __restrict__ dlogits, int64_t N, int64_t C) {
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (n >= N) return;                     // whole warps leave together: the shuffles stay full
  const T r = cross_entropy_row(logits + n * C, target[n], dlogits + n * C, N, C);
  if (threadIdx.x % 32 == 0) row_loss[n] = r;
}

// Then one block of 1024 threads: strided sums in order, then a fixed shared-memory tree
// (deterministic), and the bad-target flag over all targets (written, so it needs no zeroing).
template <typename T>
__global__ void mean_kernel(const T* __restrict__ row_loss, const int64_t* __restrict__ target, T* __restrict__ loss,
                            int* __restrict__ bad, int64_t N, int64_t C) {
  __shared__ T part[1024];
  T s = T(0);
  int flag = 0;
  for (int64_t n = threadIdx.x; n < N; n += blockDim.x) {
    s += row_loss[n];
    flag |= outside(target[n], C);
  }
  part[threadIdx.x] = s;
  flag = __syncthreads_or(flag);          // also the barrier before the tree
  for (int width = blockDim.x / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) part[threadIdx.x] += part[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    *loss = part[0] / static_cast<T>(N);
    *bad = flag;
  }
}

// A training batch (N <= kCrossEntropyOneBlockRows): everything in one block of 32 warps, one launch
// instead of two. Warp w takes rows w, w + 32, ... and sums their losses in that order; then warp 0
// adds the 32 warp sums in a fixed butterfly. Deterministic. The launch bound caps the registers at 64
// a thread, which 1024 threads need (float64 took 70 without it, and the launch failed).

template <typename T>
__global__ void __launch_bounds__(1024) cross_entropy_small_kernel(const T* __restrict__ logits, const int64_t* __restrict__ target,
                                           T* __restrict__ loss, T* __restrict__ dlogits, int* __restrict__ bad,
                                           int64_t N, int64_t C) {
  __shared__ T warp_loss[32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  T s = T(0);
  int flag = 0;
  for (int64_t n = warp; n < N; n += 32) {
    s += cross_entropy_row(logits + n * C, target[n], dlogits + n * C, N, C);
    flag |= outside(target[n], C);
  }
  if (lane == 0) warp_loss[warp] = s;
  flag = __syncthreads_or(flag);
  if (warp == 0) {
    const T total = warp_sum(warp_loss[lane]);
    if (lane == 0) {
      *loss = total / static_cast<T>(N);
      *bad = flag;
    }
  }
}

}  // namespace

template <typename T>
cudaError_t cross_entropy_forward_backward(T* loss, T* dlogits, int* bad, T* row_loss, const T* logits,
                                           const int64_t* target, int64_t N, int64_t C, cudaStream_t stream) {
  if (N <= kCrossEntropyOneBlockRows) {
    cross_entropy_small_kernel<T><<<1, 1024, 0, stream>>>(logits, target, loss, dlogits, bad, N, C);
    return cudaGetLastError();
  }
  const unsigned blocks = static_cast<unsigned>((N + kRowsPerBlock - 1) / kRowsPerBlock);
  cross_entropy_rows_kernel<T><<<blocks, kRowsPerBlock * 32, 0, stream>>>(logits, target, row_loss, dlogits, N, C);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  mean_kernel<T><<<1, 1024, 0, stream>>>(row_loss, target, loss, bad, N, C);
  return cudaGetLastError();
}

template cudaError_t cross_entropy_forward_backward<float>(float*, float*, int*, float*, const float*,
                                                           const int64_t*, int64_t, int64_t, cudaStream_t);
template cudaError_t cross_entropy_forward_backward<double>(double*, double*, int*, double*, const double*,
                                                            const int64_t*, int64_t, int64_t, cudaStream_t);

}  // namespace cuda
}  // namespace minitorch_clf
