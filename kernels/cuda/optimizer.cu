// Multi-tensor optimizer updates, pure CUDA: one launch updates every parameter of a group.
// The grid is the concatenation of every tensor's chunks of kChunk elements; block b finds its
// tensor by walking the (at most kMaxTensors) tensor sizes. Each element's update is
// ../common/sgd_update.h's / adam_update.h's, the functions the CPU kernels run.
#include "../common/adam_update.h"
#include "../common/sgd_update.h"
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
  const auto s = sgd_scalars<T>(h.lr, h.momentum, h.dampening, h.weight_decay);
  for (int64_t k = begin + threadIdx.x; k < end; k += kThreads)
    sgd_element(batch.params[t], batch.grads[t], batch.state1[t], k, s, h.maximize, h.weight_decay != 0,
                h.momentum != 0, h.first_step, h.nesterov);
}

template <typename T>
__global__ void adam_kernel(const TensorBatch<T> batch, const AdamHyper h) {
  int t;
  int64_t begin, end;
  if (!locate(batch, static_cast<int64_t>(blockIdx.x), &t, &begin, &end)) return;
  const auto s = adam_scalars<T>(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, batch.step_size[t],
                                 batch.bias_correction2_sqrt[t]);
  for (int64_t k = begin + threadIdx.x; k < end; k += kThreads)
    adam_element(batch.params[t], batch.grads[t], batch.state1[t], batch.state2[t], batch.state3[t], k, s,
                 h.maximize, h.weight_decay != 0, h.decoupled, h.amsgrad, 1 - h.beta1 < 0.5);
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
