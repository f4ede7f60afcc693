// Launchers of the pure-CUDA kernels (no torch headers anywhere in kernels/cuda/*.cu, so nvcc stays
// fast); bindings.cpp calls them with raw pointers and the current stream. Outputs come first, then
// inputs, then sizes and options. Each returns cudaSuccess or the error of its launch. Indices are
// 64-bit throughout. The activations and optimizer element updates are ../common's, which the CPU
// kernels run too.
//   N = batch, I = in_features, O = out_features, C = classes
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../common/activation.h"

namespace minitorch_clf {
namespace cuda {

// v1: out (N, O) = act(z), z = x (N, I) . W (O, I)^T + b, a shared-memory tiled GEMM with the bias and
// activation applied in registers before the single store; z also stored in pre where reads_pre(act)
// (pre is unused otherwise).
template <typename T>
cudaError_t linear_forward_tiled(T* out, T* pre, const T* x, const T* w, const T* b, int64_t N, int64_t I,
                                 int64_t O, Activation act, cudaStream_t stream);

// out = act(z) over count elements (out may be z): after cuBLASLt's bias epilogue, for the activations
// it has no epilogue for.
template <typename T>
cudaError_t apply_activation(T* out, const T* z, int64_t count, Activation act, cudaStream_t stream);

// dz = dout · act'(saved) into dz (N, O) (unwritten for the identity: dz is dout), and
// dbias[o] = sum_n dz[n, o], reduced in a fixed order (no atomics): bit-identical from run to run.
// Two stages: column sums of blocks of kBiasGradRows rows into partial (ceil(N / kBiasGradRows), O),
// then the blocks summed in order; one stage, straight into dbias, where N <= kBiasGradRows.
constexpr int64_t kBiasGradRows = 256;

template <typename T>
cudaError_t activation_bias_grad(T* dz, T* dbias, T* partial, const T* dout, const T* saved, int64_t N, int64_t O,
                                 Activation act, cudaStream_t stream);

// One warp per row: row_loss[n] = logsumexp(z_n) - z_n[y_n], dlogits = (softmax(z_n) - onehot(y_n)) / N',
// where N' counts the rows whose target is not ignore_index (those rows: loss 0, dlogits 0);
// loss = sum(row_loss) / N' in a fixed order (NaN when N' = 0, as in torch). One launch up to
// kCrossEntropyOneBlockRows rows; above, three, with row_loss (N,) as scratch (unused below).
// counts (2 ints, written, so no zeroing needed): counts[0] = 1 if a target is neither ignore_index nor
// in [0, C), else 0 (that target is read as class 0 instead of trapping, so the host can raise a
// Python exception); counts[1] = N'.
constexpr int64_t kCrossEntropyOneBlockRows = 4096;

template <typename T>
cudaError_t cross_entropy_forward_backward(T* loss, T* dlogits, int* counts, T* row_loss, const T* logits,
                                           const int64_t* target, int64_t N, int64_t C, int64_t ignore_index,
                                           cudaStream_t stream);

// Multi-tensor optimizer updates (../common/sgd_update.h, adam_update.h per element): up to kMaxTensors
// tensors per launch, every element read and written once. The batch holds the outputs (params and
// state, updated in place) beside the gradients.
constexpr int kMaxTensors = 36;   // keeps the batch under the 4 KB kernel-argument limit

template <typename T>
struct TensorBatch {
  int count = 0;
  T* params[kMaxTensors];
  const T* grads[kMaxTensors];
  T* state1[kMaxTensors];      // SGD: momentum buffer; Adam: exp_avg
  T* state2[kMaxTensors];      // Adam: exp_avg_sq
  T* state3[kMaxTensors];      // Adam with amsgrad: max_exp_avg_sq
  int64_t numel[kMaxTensors];
  double step_size[kMaxTensors];              // Adam: lr / (1 - beta1^t)
  double bias_correction2_sqrt[kMaxTensors];  // Adam: sqrt(1 - beta2^t)
};

struct SgdHyper {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize, first_step;
};

struct AdamHyper {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled, amsgrad, maximize;
};

template <typename T>
cudaError_t sgd_update(const TensorBatch<T>& batch, const SgdHyper& h, cudaStream_t stream);

template <typename T>
cudaError_t adam_update(const TensorBatch<T>& batch, const AdamHyper& h, cudaStream_t stream);

// The FMA peak probe: one thread per element of out (n), each `iters` rounds of kFmaChains independent
// float32 FMAs from registers (2 x kFmaChains x iters flops a thread), their sum stored in out.
constexpr int kFmaChains = 16;
cudaError_t fma_chains(float* out, int64_t n, int64_t iters, cudaStream_t stream);

// The whole SGD step in one cooperative launch (persistent_step.cu): every pointer below on one device, float32,
// contiguous; layer k maps sizes[k] inputs to sizes[k + 1] outputs (sizes[layers]: the classes). The caller
// (bindings.cpp) allocates the scratch and checks every size; momentum buffers may be null without momentum.
// The kernel reads h.first_step as false: the buffers exist (a first step made them).
constexpr int kMaxLayers = 8;
struct PersistentStep {
  int layers;
  int64_t N;                               // the batch's rows: the scratch's (the epoch's: its largest batch)
  int64_t sizes[kMaxLayers + 1];
  const float* x;                          // (N, sizes[0]); the epoch's: the data set's rows
  float* weight[kMaxLayers];               // (sizes[k + 1], sizes[k]), updated in place
  float* bias[kMaxLayers];                 // (sizes[k + 1],), updated in place
  float* weight_buf[kMaxLayers];           // their momentum buffers
  float* bias_buf[kMaxLayers];
  float* out[kMaxLayers];                  // scratch (N, sizes[k + 1]): h_{k+1}; the last, the logits
  float* pre[kMaxLayers];                  // scratch (N, sizes[k + 1]) where reads_pre(act), hidden layers
  float* dz[kMaxLayers];                   // scratch (N, sizes[k + 1]): the gradient at layer k's z
  float* dweight[kMaxLayers];              // scratch, the gradients the update reads
  float* dbias[kMaxLayers];
  float* row_loss;                         // scratch (N,)
  int* counts;                             // (2): [a target outside [0, C) and not ignored, N']
  int64_t ignore_index;
  SgdHyper h;
};
// One step on x (N rows) and target (N,), its loss to loss ().
cudaError_t persistent_sgd_step(const PersistentStep& step, const int64_t* target, float* loss, Activation act,
                                int device, cudaStream_t stream);

// An epoch in one cooperative launch: step s on the rows order[s B : min(rows, (s + 1) B)] of step.x, B =
// batch_size (step.N = min(B, rows)), target holding their classes in that order (rows,), its loss to
// losses[s]. A step that flags a target stops the kernel before it updates anything (the caller checks the
// targets first).
struct EpochOrder {
  const int64_t* order;                    // (rows,) row indices of x, each in range (checked by the caller)
  const int64_t* target;                   // (rows,) target[order[r]], gathered by the caller
  int64_t rows, batch_size, steps;
  float* losses;                           // (steps,)
};
cudaError_t persistent_sgd_epoch(const PersistentStep& step, const EpochOrder& epoch, Activation act, int device,
                                 cudaStream_t stream);

// The barrier probe (barriers.cu): `blocks` blocks of kBarrierThreads threads, each running `iters` barriers
// - cluster 0: grid.sync() over a cooperative launch (blocks <= max_cooperative_blocks); cluster 1..16:
// cluster.sync() in clusters of that many blocks (compute capability 9.0; blocks a multiple of it) - and
// writing the count it passed to out[block].
constexpr int kBarrierThreads = 128;
cudaError_t barrier_rounds(int* out, int blocks, int cluster, int64_t iters, cudaStream_t stream);
int max_cooperative_blocks(int device);   // resident at once: the most a grid barrier can span (0: unknown)

}  // namespace cuda
}  // namespace minitorch_clf
