// Linear layer kernels, pure CUDA (bindings.cpp owns the torch side).
//   N = batch, I = in_features, O = out_features;  x (N, I), W (O, I), b (O,), out (N, O)
#include <algorithm>

#include "kernels.h"

namespace minitorch_clf {
namespace cuda {
namespace {

// ---------------------------------------------------------------------------------------------
// v1 forward: the textbook shared-memory tiled GEMM, one output per thread.
// Block (TILE, TILE) computes out[n0 : n0 + TILE, o0 : o0 + TILE]. Walking i in steps of TILE, the
// block stages x[n0 :, i0 : i0 + TILE] and W[o0 :, i0 : i0 + TILE] in shared memory (each element
// read from global memory once per block), then every thread takes a TILE-long dot product from
// shared memory. Rows are padded by one element so that the column reads of ws (threads of a warp
// on different rows, same k) fall into different banks. The epilogue adds the bias and applies the
// activation in registers, so out is written exactly once (and pre too, for GELU).
template <typename T, int TILE, Activation A>
__global__ void linear_forward_tiled_kernel(T* __restrict__ out, T* __restrict__ pre, const T* __restrict__ x,
                                            const T* __restrict__ w, const T* __restrict__ b, int64_t N, int64_t I,
                                            int64_t O) {
  __shared__ T xs[TILE][TILE + 1];   // xs[row of the tile][k]
  __shared__ T ws[TILE][TILE + 1];   // ws[column of the tile][k]
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * TILE, o0 = static_cast<int64_t>(blockIdx.y) * TILE;
  const int64_t n = n0 + ty, o = o0 + tx;
  T acc = T(0);
  for (int64_t i0 = 0; i0 < I; i0 += TILE) {
    const int64_t i = i0 + tx;
    xs[ty][tx] = (n < N && i < I) ? x[n * I + i] : T(0);
    ws[ty][tx] = (o0 + ty < O && i < I) ? w[(o0 + ty) * I + i] : T(0);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < TILE; ++k) acc += xs[ty][k] * ws[tx][k];
    __syncthreads();
  }
  if (n < N && o < O) {
    const T z = acc + b[o];
    if constexpr (reads_pre(A)) pre[n * O + o] = z;
    out[n * O + o] = activate<A>(z);
  }
}

template <typename T, Activation A>
__global__ void activate_kernel(T* __restrict__ out, const T* __restrict__ z, int64_t count) {
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < count;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[k] = activate<A>(z[k]);
}

// ---------------------------------------------------------------------------------------------
// Backward, stage 1: block (32, 8) owns 32 columns and kBiasGradRows rows. Each thread walks its
// column down the rows ty, ty + 8, ... in order, writes dz and sums; the 8 partial sums of a column
// are then added in ty order. Stage 2 adds the row blocks in order. No atomics anywhere.
template <typename T, Activation A>
__global__ void activation_bias_partial_kernel(T* __restrict__ dz, T* __restrict__ partial,
                                               const T* __restrict__ dout, const T* __restrict__ saved, int64_t N,
                                               int64_t O) {
  __shared__ T sums[8][32];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * 32 + tx;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kBiasGradRows;
  T acc = T(0);
  if (o < O) {
    for (int64_t n = row0 + ty; n < N && n < row0 + kBiasGradRows; n += 8) {
      const int64_t k = n * O + o;
      const T g = backprop<A>(dout[k], saved[k]);
      if constexpr (A != Activation::kIdentity) dz[k] = g;
      acc += g;
    }
  }
  sums[ty][tx] = acc;
  __syncthreads();
  if (ty == 0 && o < O) {
    T s = T(0);
    for (int r = 0; r < 8; ++r) s += sums[r][tx];
    partial[static_cast<int64_t>(blockIdx.y) * O + o] = s;
  }
}

template <typename T>
__global__ void bias_grad_finish_kernel(T* __restrict__ dbias, const T* __restrict__ partial, int64_t blocks,
                                        int64_t O) {
  const int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o >= O) return;
  T s = T(0);
  for (int64_t b = 0; b < blocks; ++b) s += partial[b * O + o];
  dbias[o] = s;
}

}  // namespace

template <typename T>
cudaError_t linear_forward_tiled(T* out, T* pre, const T* x, const T* w, const T* b, int64_t N, int64_t I,
                                 int64_t O, Activation act, cudaStream_t stream) {
  constexpr int TILE = 16;
  if (N == 0 || O == 0) return cudaSuccess;
  const dim3 block(TILE, TILE), grid(static_cast<unsigned>((N + TILE - 1) / TILE),
                                     static_cast<unsigned>((O + TILE - 1) / TILE));
  with_activation(act, [&](auto A) {
    linear_forward_tiled_kernel<T, TILE, decltype(A)::value><<<grid, block, 0, stream>>>(out, pre, x, w, b, N, I, O);
  });
  return cudaGetLastError();
}

template <typename T>
cudaError_t apply_activation(T* out, const T* z, int64_t count, Activation act, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((count + 255) / 256, 4096));
  with_activation(act, [&](auto A) { activate_kernel<T, decltype(A)::value><<<blocks, 256, 0, stream>>>(out, z, count); });
  return cudaGetLastError();
}

template <typename T>
cudaError_t activation_bias_grad(T* dz, T* dbias, T* partial, const T* dout, const T* saved, int64_t N, int64_t O,
                                 Activation act, cudaStream_t stream) {
  if (O == 0) return cudaSuccess;
  const int64_t blocks = (N + kBiasGradRows - 1) / kBiasGradRows;
  if (blocks > 0) {
    // One row block (N <= kBiasGradRows, a training batch): its sums are the bias gradient, so stage 1
    // writes them there and stage 2 is not launched (one kernel fewer per layer and step).
    const dim3 block(32, 8), grid(static_cast<unsigned>((O + 31) / 32), static_cast<unsigned>(blocks));
    with_activation(act, [&](auto A) {
      activation_bias_partial_kernel<T, decltype(A)::value><<<grid, block, 0, stream>>>(
          dz, blocks == 1 ? dbias : partial, dout, saved, N, O);
    });
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess || blocks == 1) return err;
  }
  bias_grad_finish_kernel<T><<<static_cast<unsigned>((O + 127) / 128), 128, 0, stream>>>(dbias, partial, blocks, O);
  return cudaGetLastError();
}

#define MINITORCH_CLF_INSTANTIATE(T)                                                                             \
  template cudaError_t linear_forward_tiled<T>(T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t,  \
                                               Activation, cudaStream_t);                                      \
  template cudaError_t apply_activation<T>(T*, const T*, int64_t, Activation, cudaStream_t);                            \
  template cudaError_t activation_bias_grad<T>(T*, T*, T*, const T*, const T*, int64_t, int64_t, Activation,     \
                                               cudaStream_t);
MINITORCH_CLF_INSTANTIATE(float)
MINITORCH_CLF_INSTANTIATE(double)
#undef MINITORCH_CLF_INSTANTIATE

}  // namespace cuda
}  // namespace minitorch_clf
