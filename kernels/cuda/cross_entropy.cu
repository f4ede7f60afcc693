// Softmax cross-entropy forward + backward, one warp per row, pure CUDA.
//   logits (N, C), target (N,) -> dlogits (N, C), loss () = mean of the rows' losses over the N' rows
//   whose target is not ignore_index
// A batch of up to kCrossEntropyOneBlockRows rows takes one launch; more take three (count the
// targets, the rows, then the mean).
#include <cmath>

#include "cross_entropy_rows.cuh"
#include "kernels.h"

namespace minitorch_clf {
namespace cuda {
namespace {

constexpr int kRowsPerBlock = 8;          // 8 warps of 32 threads

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
