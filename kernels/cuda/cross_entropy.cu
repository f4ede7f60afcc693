// Softmax cross-entropy forward + backward, one warp per row, pure CUDA.
//   logits (N, C), target (N,) -> dlogits (N, C), loss () = mean of the rows' losses over the N' rows
//   whose target is not ignore_index
// A batch of up to kCrossEntropyOneBlockRows rows takes one launch; more take three (count the
// targets, the rows, then the mean).
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

__device__ bool outside(int64_t y, int64_t C, int64_t ignore_index) { return y != ignore_index && (y < 0 || y >= C); }

// One row, by one warp: lane l handles classes l, l + 32, ...:  m = max z,  s = sum exp(z - m),
// dlogits_c = (exp(z_c - m) / s - 1[c = y]) * inv_n; returns row_loss = m + log s - z_y (in every lane).
// inv_n = 1 / N', N' the rows whose target is not ignore_index. An ignored row gets dlogits 0 and
// loss 0. A target outside [0, C) is read as class 0 here; the caller flags it. A NaN logit makes
// the row NaN through exp(z - m) even where max() skipped it.
template <typename T>
__device__ T cross_entropy_row(const T* __restrict__ z, int64_t y, T* __restrict__ dz, T inv_n, int64_t C,
                               int64_t ignore_index) {
  const int lane = threadIdx.x % 32;
  if (y == ignore_index) {
    for (int64_t c = lane; c < C; c += 32) dz[c] = T(0);
    return T(0);
  }
  if (y < 0 || y >= C) y = 0;
  T m = -INFINITY;
  for (int64_t c = lane; c < C; c += 32) m = max(m, z[c]);
  m = warp_max(m);
  T s = T(0);
  for (int64_t c = lane; c < C; c += 32) s += exp(z[c] - m);
  s = warp_sum(s);
  const T scale = inv_n / s;
  for (int64_t c = lane; c < C; c += 32) dz[c] = exp(z[c] - m) * scale - (c == y ? inv_n : T(0));
  return m + log(s) - z[y];
}

// The targets of a block's batch, by all its threads: returns N' (the rows not ignored) in every thread
// and sets *bad_target where one lies outside [0, C) and is not ignore_index. Integer sums: deterministic.
__device__ int count_targets(const int64_t* __restrict__ target, int64_t N, int64_t C, int64_t ignore_index,
                             int* bad_target) {
  __shared__ int warp_count[32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int counted = 0, flag = 0;
  for (int64_t n = threadIdx.x; n < N; n += blockDim.x) {
    counted += target[n] != ignore_index;
    flag |= outside(target[n], C, ignore_index);
  }
  for (int offset = 16; offset > 0; offset /= 2) counted += __shfl_xor_sync(0xffffffffu, counted, offset);
  if (lane == 0) warp_count[warp] = counted;
  *bad_target = __syncthreads_or(flag);   // also the barrier before warp_count is read
  int total = 0;
  for (int w = 0; w < static_cast<int>(blockDim.x / 32); ++w) total += warp_count[w];
  return total;
}

// Many rows, first: one block counts N' into counts[1] and flags a bad target in counts[0].
__global__ void count_kernel(const int64_t* __restrict__ target, int* __restrict__ counts, int64_t N, int64_t C,
                             int64_t ignore_index) {
  int flag = 0;
  const int counted = count_targets(target, N, C, ignore_index, &flag);
  if (threadIdx.x == 0) {
    counts[0] = flag;
    counts[1] = counted;
  }
}

// Then one warp per row, kRowsPerBlock rows per block, each row's loss to row_loss.
template <typename T>
__global__ void cross_entropy_rows_kernel(const T* __restrict__ logits, const int64_t* __restrict__ target,
                                          T* __restrict__ row_loss, T* __restrict__ dlogits,
                                          const int* __restrict__ counts, int64_t N, int64_t C, int64_t ignore_index) {
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (n >= N) return;                     // whole warps leave together: the shuffles stay full
  const T inv_n = T(1) / static_cast<T>(counts[1]);
  const T r = cross_entropy_row(logits + n * C, target[n], dlogits + n * C, inv_n, C, ignore_index);
  if (threadIdx.x % 32 == 0) row_loss[n] = r;
}

// Then one block of 1024 threads: strided sums in order, then a fixed shared-memory tree
// (deterministic); the mean over N' (0 / 0 = NaN when every row is ignored, as in torch).
template <typename T>
__global__ void mean_kernel(const T* __restrict__ row_loss, const int* __restrict__ counts, T* __restrict__ loss,
                            int64_t N) {
  __shared__ T part[1024];
  T s = T(0);
  for (int64_t n = threadIdx.x; n < N; n += blockDim.x) s += row_loss[n];
  part[threadIdx.x] = s;
  __syncthreads();
  for (int width = blockDim.x / 2; width > 0; width /= 2) {
    if (threadIdx.x < width) part[threadIdx.x] += part[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0) *loss = part[0] / static_cast<T>(counts[1]);
}

// A training batch (N <= kCrossEntropyOneBlockRows): everything in one block of 32 warps, one launch
// instead of three. The block counts N' first; then warp w takes rows w, w + 32, ... and sums their
// losses in that order; then warp 0 adds the 32 warp sums in a fixed butterfly. Deterministic. The
// launch bound caps the registers at 64 a thread, which 1024 threads need (float64 took 70 without it,
// and the launch failed).
template <typename T>
__global__ void __launch_bounds__(1024) cross_entropy_small_kernel(const T* __restrict__ logits, const int64_t* __restrict__ target,
                                           T* __restrict__ loss, T* __restrict__ dlogits, int* __restrict__ counts,
                                           int64_t N, int64_t C, int64_t ignore_index) {
  __shared__ T warp_loss[32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int flag = 0;
  const int counted = count_targets(target, N, C, ignore_index, &flag);
  const T inv_n = T(1) / static_cast<T>(counted);
  T s = T(0);
  for (int64_t n = warp; n < N; n += 32) {
    s += cross_entropy_row(logits + n * C, target[n], dlogits + n * C, inv_n, C, ignore_index);
  }
  if (lane == 0) warp_loss[warp] = s;
  __syncthreads();
  if (warp == 0) {
    const T total = warp_sum(warp_loss[lane]);
    if (lane == 0) {
      *loss = total / static_cast<T>(counted);
      counts[0] = flag;
      counts[1] = counted;
    }
  }
}

}  // namespace

template <typename T>
cudaError_t cross_entropy_forward_backward(T* loss, T* dlogits, int* counts, T* row_loss, const T* logits,
                                           const int64_t* target, int64_t N, int64_t C, int64_t ignore_index,
                                           cudaStream_t stream) {
  if (N <= kCrossEntropyOneBlockRows) {
    cross_entropy_small_kernel<T><<<1, 1024, 0, stream>>>(logits, target, loss, dlogits, counts, N, C, ignore_index);
    return cudaGetLastError();
  }
  count_kernel<<<1, 1024, 0, stream>>>(target, counts, N, C, ignore_index);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  const unsigned blocks = static_cast<unsigned>((N + kRowsPerBlock - 1) / kRowsPerBlock);
  cross_entropy_rows_kernel<T><<<blocks, kRowsPerBlock * 32, 0, stream>>>(logits, target, row_loss, dlogits, counts,
                                                                          N, C, ignore_index);
  err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  mean_kernel<T><<<1, 1024, 0, stream>>>(row_loss, counts, loss, N);
  return cudaGetLastError();
}

template cudaError_t cross_entropy_forward_backward<float>(float*, float*, int*, float*, const float*,
                                                           const int64_t*, int64_t, int64_t, int64_t, cudaStream_t);
template cudaError_t cross_entropy_forward_backward<double>(double*, double*, int*, double*, const double*,
                                                            const int64_t*, int64_t, int64_t, int64_t, cudaStream_t);

}  // namespace cuda
}  // namespace minitorch_clf
