// Linear layer kernels, pure CUDA (bindings.cpp owns the torch side).
//   N = batch, I = in_features, O = out_features;  x (N, I), W (O, I), b (O,), out (N, O)
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
// ReLU in registers, so out is written exactly once.
template <typename T, int TILE>
__global__ void linear_forward_tiled_kernel(const T* __restrict__ x, const T* __restrict__ w,
                                            const T* __restrict__ b, T* __restrict__ out, int64_t N, int64_t I,
                                            int64_t O, bool relu) {
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
    const T v = acc + b[o];
    out[n * O + o] = (relu && v < T(0)) ? T(0) : v;
  }
}

// ---------------------------------------------------------------------------------------------
// Backward, stage 1: block (32, 8) owns 32 columns and kBiasGradRows rows. Each thread walks its
// column down the rows ty, ty + 8, ... in order, writes dz and sums; the 8 partial sums of a column
// are then added in ty order. Stage 2 adds the row blocks in order. No atomics anywhere.
template <typename T>
__global__ void relu_mask_bias_partial_kernel(const T* __restrict__ dout, const T* __restrict__ out,
                                              T* __restrict__ dz, T* __restrict__ partial, int64_t N, int64_t O,
                                              bool relu) {
  __shared__ T sums[8][32];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * 32 + tx;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kBiasGradRows;
  T acc = T(0);
  if (o < O) {
    for (int64_t n = row0 + ty; n < N && n < row0 + kBiasGradRows; n += 8) {
      const int64_t k = n * O + o;
      const T g = (!relu || out[k] > T(0)) ? dout[k] : T(0);
      if (relu) dz[k] = g;
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
__global__ void bias_grad_finish_kernel(const T* __restrict__ partial, T* __restrict__ dbias, int64_t blocks,
                                        int64_t O) {
  const int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o >= O) return;
  T s = T(0);
  for (int64_t b = 0; b < blocks; ++b) s += partial[b * O + o];
  dbias[o] = s;
}

}  // namespace

template <typename T>
cudaError_t linear_forward_tiled(const T* x, const T* w, const T* b, T* out, int64_t N, int64_t I, int64_t O,
                                 bool relu, cudaStream_t stream) {
  constexpr int TILE = 16;
  if (N == 0 || O == 0) return cudaSuccess;
  const dim3 block(TILE, TILE), grid(static_cast<unsigned>((N + TILE - 1) / TILE),
                                     static_cast<unsigned>((O + TILE - 1) / TILE));
  linear_forward_tiled_kernel<T, TILE><<<grid, block, 0, stream>>>(x, w, b, out, N, I, O, relu);
  return cudaGetLastError();
}

template <typename T>
cudaError_t relu_mask_bias_grad(const T* dout, const T* out, T* dz, T* dbias, T* partial, int64_t N, int64_t O,
                                bool relu, cudaStream_t stream) {
  if (O == 0) return cudaSuccess;
  const int64_t blocks = (N + kBiasGradRows - 1) / kBiasGradRows;
  if (blocks > 0) {
    // One row block (N <= kBiasGradRows, a training batch): its sums are the bias gradient, so stage 1
    // writes them there and stage 2 is not launched (one kernel fewer per layer and step).
    const dim3 block(32, 8), grid(static_cast<unsigned>((O + 31) / 32), static_cast<unsigned>(blocks));
    relu_mask_bias_partial_kernel<T><<<grid, block, 0, stream>>>(dout, out, dz, blocks == 1 ? dbias : partial, N,
                                                                  O, relu);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess || blocks == 1) return err;
  }
  bias_grad_finish_kernel<T><<<static_cast<unsigned>((O + 127) / 128), 128, 0, stream>>>(partial, dbias, blocks, O);
  return cudaGetLastError();
}

template cudaError_t linear_forward_tiled<float>(const float*, const float*, const float*, float*, int64_t,
                                                 int64_t, int64_t, bool, cudaStream_t);
template cudaError_t linear_forward_tiled<double>(const double*, const double*, const double*, double*, int64_t,
                                                  int64_t, int64_t, bool, cudaStream_t);
template cudaError_t relu_mask_bias_grad<float>(const float*, const float*, float*, float*, float*, int64_t,
                                                int64_t, bool, cudaStream_t);
template cudaError_t relu_mask_bias_grad<double>(const double*, const double*, double*, double*, double*,
                                                 int64_t, int64_t, bool, cudaStream_t);

}  // namespace cuda
}  // namespace minitorch_clf
