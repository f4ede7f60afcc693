// Multi-tensor optimizer updates, pure CUDA: one launch updates every parameter of a group.
// The grid is the concatenation of every tensor's chunks of kChunk elements; block b finds its
// tensor by walking the (at most kMaxTensors) tensor sizes. The arithmetic is the CPU kernels'
// (kernels/cpu/optimizer.cpp), element for element.
#include <cmath>

#include "kernels.h"

namespace minitorch_clf {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kChunk = 1024;          // elements per block: SimpleNet's 109k parameters fill ~110 blocks

template <typename T>
__device__ bool locate(const TensorBatch<T>& batch, int64_t block, int* tensor, int64_t* begin, int64_t* end) {
  for (int t = 0; t < batch.count; ++t) {
    const int64_t chunks = (batch.numel[t] + kChunk - 1) / kChunk;
    if (block < chunks) {
      *tensor = t;
      *begin = block * kChunk;
      *end = min(batch.numel[t], *begin + kChunk);
      return true;
    }
    block -= chunks;
  }
  return false;
}

template <typename T>
__global__ void sgd_kernel(const TensorBatch<T> batch, const SgdHyper h) {
  int t;
  int64_t begin, end;
  if (!locate(batch, static_cast<int64_t>(blockIdx.x), &t, &begin, &end)) return;
  T* __restrict__ p = batch.params[t];
  const T* __restrict__ grad = batch.grads[t];
  T* __restrict__ buf = batch.state1[t];
  const T wd = static_cast<T>(h.weight_decay), mu = static_cast<T>(h.momentum);
  const T damp = static_cast<T>(1 - h.dampening), neg_lr = static_cast<T>(-h.lr);
  for (int64_t k = begin + threadIdx.x; k < end; k += kThreads) {
    T g = h.maximize ? -grad[k] : grad[k];
    if (h.weight_decay != 0) g = g + wd * p[k];
    if (h.momentum != 0) {
      const T b = h.first_step ? g : buf[k] * mu + damp * g;
      buf[k] = b;
      g = h.nesterov ? g + mu * b : b;
    }
    p[k] = p[k] + neg_lr * g;
  }
}

template <typename T>
__global__ void adam_kernel(const TensorBatch<T> batch, const AdamHyper h) {
  int t;
  int64_t begin, end;
  if (!locate(batch, static_cast<int64_t>(blockIdx.x), &t, &begin, &end)) return;
  T* __restrict__ p = batch.params[t];
  const T* __restrict__ grad = batch.grads[t];
  T* __restrict__ m = batch.state1[t];
  T* __restrict__ v = batch.state2[t];
  T* __restrict__ vmax = batch.state3[t];
  const T decay = static_cast<T>(1 - h.lr * h.weight_decay), wd = static_cast<T>(h.weight_decay);
  const T w1 = static_cast<T>(1 - h.beta1), b2 = static_cast<T>(h.beta2), w2 = static_cast<T>(1 - h.beta2);
  const T eps = static_cast<T>(h.eps), neg_step = static_cast<T>(-batch.step_size[t]);
  const T bc2 = static_cast<T>(batch.bias_correction2_sqrt[t]);
  for (int64_t k = begin + threadIdx.x; k < end; k += kThreads) {
    T g = h.maximize ? -grad[k] : grad[k];
    T w = p[k];
    if (h.weight_decay != 0) {
      if (h.decoupled) w = w * decay;
      else g = g + wd * w;
    }
    const T mk = w1 < T(0.5) ? m[k] + w1 * (g - m[k]) : g - (g - m[k]) * (T(1) - w1);   // torch's lerp
    const T vk = v[k] * b2 + w2 * g * g;
    m[k] = mk;
    v[k] = vk;
    T second = vk;
    if (h.amsgrad) second = vmax[k] = max(vmax[k], vk);
    p[k] = w + neg_step * mk / (sqrt(second) / bc2 + eps);
  }
}

template <typename T>
unsigned total_blocks(const TensorBatch<T>& batch) {
  int64_t blocks = 0;
  for (int t = 0; t < batch.count; ++t) blocks += (batch.numel[t] + kChunk - 1) / kChunk;
  return static_cast<unsigned>(blocks);
}

}  // namespace

template <typename T>
cudaError_t sgd_update(const TensorBatch<T>& batch, const SgdHyper& h, cudaStream_t stream) {
  const unsigned blocks = total_blocks(batch);
  if (blocks == 0) return cudaSuccess;
  sgd_kernel<T><<<blocks, kThreads, 0, stream>>>(batch, h);
  return cudaGetLastError();
}

template <typename T>
cudaError_t adam_update(const TensorBatch<T>& batch, const AdamHyper& h, cudaStream_t stream) {
  const unsigned blocks = total_blocks(batch);
  if (blocks == 0) return cudaSuccess;
  adam_kernel<T><<<blocks, kThreads, 0, stream>>>(batch, h);
  return cudaGetLastError();
}

template cudaError_t sgd_update<float>(const TensorBatch<float>&, const SgdHyper&, cudaStream_t);
template cudaError_t sgd_update<double>(const TensorBatch<double>&, const SgdHyper&, cudaStream_t);
template cudaError_t adam_update<float>(const TensorBatch<float>&, const AdamHyper&, cudaStream_t);
template cudaError_t adam_update<double>(const TensorBatch<double>&, const AdamHyper&, cudaStream_t);

}  // namespace cuda
}  // namespace minitorch_clf
