// The whole SGD training step of an MLP in one kernel launch (issue 27): forward, softmax cross-entropy,
// backward and the SGD update, with one grid barrier (cooperative_groups' grid.sync() of a cooperative launch)
// where the layered step has kernel boundaries. In a CUDA graph the layered step is ~17 kernels at ~1 us a
// node; here it is one node and one barrier (probes.gpu_barrier_us measures one). The epoch in one launch
// too: the same two phases for every batch of the epoch's order, one barrier more between steps.
//
// Everything up to the gradients of the weights is a function of one row: a row's forward needs only the
// weights, its cross-entropy only its own logits (and N', the rows not ignored: every warp counts the batch's
// targets itself), and dx, the gradient a layer hands down, only the row's dz and the weights, which change
// only after the barrier. So phase A gives each block whole rows, and phase B, after the one barrier, sums
// over the rows:
//   A   (a block per R rows, row n being x's row rows[n], or n; block barriers between layers; R = 1 where
//       the grid has a block for every row, else up to 8, each weight then read once for R rows)
//       F_k   h_{k+1}[n, o] = act(z), z = h_k[n, :] . W_k[o, :] + b_k[o]       a warp per o
//       CE    dz_{L-1}[n, :] = (softmax(z_n) - onehot(y_n)) / N', row_loss[n]   a warp per row
//             (cross_entropy_rows.cuh: the loss op's arithmetic, row for row)
//       D_k   dz_{k-1}[n, i] = act'(s_k[n, i]) . sum_o dz_k[n, o] W_k[o, i]      a thread per i, k = L-1..1
//   --- grid barrier ---
//   B   dW_k[o, i] = sum_n dz_k[n, o] h_k[n, i], db_k[o] = sum_n dz_k[n, o]        a thread per 8 o of one i,
//                                                                               or per o, every k
//       and that element's SGD update in the same thread (no phase reads a weight after it); block 0's warp 0
//       sums row_loss in a fixed order into the loss.
// A flagged target (neither ignore_index nor in [0, C)) is seen by every warp's count before any write: the
// whole grid returns, nothing updated. Every sum runs in a fixed order (a warp's butterfly, a thread's loop),
// so the bits do not change from run to run, whatever the grid, and a step of the epoch kernel is the step
// kernel's on the same batch. The SGD update of an element is ../common/sgd_update.h's, as the layered
// step's. float32 only. tests/test_cuda_emulation.py runs both kernels on the CPU against the CPU ops.
#include <cooperative_groups.h>

#include "../common/sgd_update.h"
#include "cross_entropy_rows.cuh"
#include "kernels.h"

namespace cg = cooperative_groups;

namespace minitorch_clf {
namespace cuda {
namespace {

constexpr int kThreads = 256;

struct Grid {                  // this thread's place in the grid-stride and block-stride loops
  int64_t thread, threads;
  int lane, warp, warps;       // warp: in the block; warps: the block's
};

__device__ Grid grid_place() {
  Grid g;
  g.thread = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  g.threads = static_cast<int64_t>(gridDim.x) * blockDim.x;
  g.lane = threadIdx.x % 32;
  g.warp = threadIdx.x / 32;
  g.warps = blockDim.x / 32;
  return g;
}

// What changes from step to step: the batch's rows of x, its targets and where its loss goes.
struct Batch {
  int64_t N;
  const int64_t* rows;        // batch row n is x's row rows[n]; nullptr: row n
  const int64_t* target;      // (N,)
  float* loss;                // ()
};

// Row n of layer k's input: x's row for the batch's row n (k = 0), else the layer below's output.
__device__ const float* input_row(const PersistentStep& a, const Batch& b, int k, int64_t n) {
  if (k > 0) return a.out[k - 1] + n * a.sizes[k];
  return a.x + (b.rows ? b.rows[n] : n) * a.sizes[0];
}

// The batch's targets, counted by one warp (lane-strided, then the butterfly: the same integers in every
// lane and every warp): N', the rows not ignored, and whether one is flagged.
struct Count {
  int counted;
  bool flagged;
};

__device__ Count count_rows(const PersistentStep& a, const Batch& b, const Grid& g) {
  const int64_t C = a.sizes[a.layers];
  int counted = 0, flagged = 0;
  for (int64_t n = g.lane; n < b.N; n += 32) {
    counted += b.target[n] != a.ignore_index;
    flagged += outside(b.target[n], C, a.ignore_index);
  }
  return {warp_sum(counted), warp_sum(flagged) != 0};
}

// Phase A for the block's rows n0 .. n0 + R - 1 (R <= kRows): the forward, their cross-entropy and the
// gradients handed down, layer by layer, each weight read once for the R rows (held R sums a thread); a block
// barrier after each layer, which every thread of the block reaches (the loops are the block's). Each row's
// sums are the one-row loops', in the same order.
constexpr int kRows = 8;

template <Activation A>
__device__ void row_phases(const PersistentStep& a, const Batch& b, int64_t n0, int R, int counted, const Grid& g) {
  const int L = a.layers;
  for (int k = 0; k < L; ++k) {                                   // F_k: a warp per output o
    const int64_t I = a.sizes[k], O = a.sizes[k + 1];
    const float* x[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) x[r] = input_row(a, b, k, n0 + (r < R ? r : 0));
    for (int64_t o = g.warp; o < O; o += g.warps) {
      const float* w = a.weight[k] + o * I;
      float s[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) s[r] = 0.f;
      for (int64_t i = g.lane; i < I; i += 32) {
        const float wi = w[i];
#pragma unroll
        for (int r = 0; r < kRows; ++r)
          if (r < R) s[r] = fmaf(x[r][i], wi, s[r]);
      }
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (r >= R) break;
        const float z = warp_sum(s[r]) + a.bias[k][o];
        const int64_t at = (n0 + r) * O + o;
        if (g.lane == 0) {
          if (k == L - 1) {
            a.out[k][at] = z;
          } else {
            if (reads_pre(A)) a.pre[k][at] = z;
            a.out[k][at] = activate<A>(z);
          }
        }
      }
    }
    __syncthreads();
  }
  const int64_t C = a.sizes[L];
  for (int r = g.warp; r < R; r += g.warps) {                     // CE: a warp per row
    const int64_t n = n0 + r;
    const float loss = cross_entropy_row(a.out[L - 1] + n * C, b.target[n], a.dz[L - 1] + n * C,
                                         1.f / static_cast<float>(counted), C, a.ignore_index);
    if (g.lane == 0) a.row_loss[n] = loss;
  }
  __syncthreads();
  for (int k = L - 1; k > 0; --k) {                               // D_k: a thread per input i
    const int64_t I = a.sizes[k], O = a.sizes[k + 1];
    for (int64_t i = threadIdx.x; i < I; i += blockDim.x) {
      float s[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) s[r] = 0.f;
      for (int64_t o = 0; o < O; ++o) {
        const float wv = a.weight[k][o * I + i];
#pragma unroll
        for (int r = 0; r < kRows; ++r)
          if (r < R) s[r] = fmaf(a.dz[k][(n0 + r) * O + o], wv, s[r]);
      }
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (r >= R) break;
        const int64_t at = (n0 + r) * I + i;
        const float saved = reads_pre(A) ? a.pre[k - 1][at] : a.out[k - 1][at];
        a.dz[k - 1][at] = backprop<A>(s[r], saved);
      }
    }
    __syncthreads();
  }
}

// Element k of layer l's weight and bias updated from their gradients (sgd_update.h).
__device__ void update(const PersistentStep& a, int l, int64_t k, bool is_bias) {
  const auto s = sgd_scalars<float>(a.h.lr, a.h.momentum, a.h.dampening, a.h.weight_decay);
  float* p = is_bias ? a.bias[l] : a.weight[l];
  const float* grad = is_bias ? a.dbias[l] : a.dweight[l];
  float* buf = is_bias ? a.bias_buf[l] : a.weight_buf[l];
  sgd_element(p, grad, buf, k, s, a.h.maximize, a.h.weight_decay != 0, a.h.momentum != 0, false, a.h.nesterov);
}

// Phase B: every layer's dW and db, each element updated in the thread that summed it (layer 0's items first,
// then 1, ...). A dW item is kOuts outputs o0.. of one input i: the thread reads h_l[n, i] once for all of
// them (the layer's input leaves L2 O / kOuts times, not O times); a db item is one output. Each element's sum
// runs over n in order, as the one-element loop's.
constexpr int kOuts = 8;

__device__ int64_t layer_items(const PersistentStep& a, int l) {
  return (a.sizes[l + 1] + kOuts - 1) / kOuts * a.sizes[l] + a.sizes[l + 1];
}

__device__ void gradient_phase(const PersistentStep& a, const Batch& b, const Grid& g) {
  int64_t total = 0;
  for (int l = 0; l < a.layers; ++l) total += layer_items(a, l);
  for (int64_t t = g.thread; t < total; t += g.threads) {
    int64_t r = t;
    int l = 0;
    while (r >= layer_items(a, l)) r -= layer_items(a, l), ++l;
    const int64_t I = a.sizes[l], O = a.sizes[l + 1], weight_items = (O + kOuts - 1) / kOuts * I;
    const float* dz = a.dz[l];
    if (r < weight_items) {                                       // dW_l[o0 + j, i], j < m
      const int64_t o0 = r / I * kOuts, i = r % I, m = min(static_cast<int64_t>(kOuts), O - o0);
      float s[kOuts];
#pragma unroll
      for (int j = 0; j < kOuts; ++j) s[j] = 0.f;
      for (int64_t n = 0; n < b.N; ++n) {
        const float h = input_row(a, b, l, n)[i];
#pragma unroll
        for (int j = 0; j < kOuts; ++j)
          if (j < m) s[j] = fmaf(dz[n * O + o0 + j], h, s[j]);
      }
#pragma unroll
      for (int j = 0; j < kOuts; ++j) {
        if (j >= m) break;
        const int64_t at = (o0 + j) * I + i;
        a.dweight[l][at] = s[j];
        update(a, l, at, false);
      }
    } else {                                                      // db_l[o]
      const int64_t o = r - weight_items;
      float s = 0.f;
      for (int64_t n = 0; n < b.N; ++n) s += dz[n * O + o];
      a.dbias[l][o] = s;
      update(a, l, o, true);
    }
  }
}

// block 0, warp 0: loss = sum of row_loss (lane-strided, then the butterfly: a fixed order) / N'.
__device__ void mean_loss(const PersistentStep& a, const Batch& b, int counted, const Grid& g) {
  float s = 0.f;
  for (int64_t n = g.lane; n < b.N; n += 32) s += a.row_loss[n];
  s = warp_sum(s);
  if (g.lane == 0) *b.loss = s / static_cast<float>(counted);
}

// One step's two phases on one batch. False where a target is flagged: then every thread returns at once,
// before any write but counts (block 0's thread 0 writes N' and the flag there, for the caller).
template <Activation A>
__device__ bool step_phases(const PersistentStep& a, const Batch& b, cg::grid_group& grid, const Grid& g) {
  const Count c = count_rows(a, b, g);
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    a.counts[0] = c.flagged;
    a.counts[1] = c.counted;
  }
  if (c.flagged) return false;
  // R rows a block at a time: one where the grid has a block for every row (batch <= blocks), up to kRows
  // where it has not - each weight then leaves L2 once for R rows instead of once a row.
  const int R = static_cast<int>(min(static_cast<int64_t>(kRows), (b.N + gridDim.x - 1) / gridDim.x));
  for (int64_t n0 = static_cast<int64_t>(blockIdx.x) * R; n0 < b.N; n0 += static_cast<int64_t>(gridDim.x) * R)
    row_phases<A>(a, b, n0, static_cast<int>(min(static_cast<int64_t>(R), b.N - n0)), c.counted, g);
  grid.sync();
  if (blockIdx.x == 0 && g.warp == 0) mean_loss(a, b, c.counted, g);
  gradient_phase(a, b, g);
  return true;
}

template <Activation A>
__global__ void __launch_bounds__(kThreads) persistent_step_kernel(const PersistentStep a, const Batch b) {
  cg::grid_group grid = cg::this_grid();
  step_phases<A>(a, b, grid, grid_place());
}

// Step s trains on the rows order[s B : min(n, (s + 1) B)] of x (their targets gathered in that order by the
// caller) and writes its loss to losses[s]; the barrier after each step lets the next one read the weights
// phase B updated (and reuse the scratch its rows wrote).
template <Activation A>
__global__ void __launch_bounds__(kThreads) persistent_epoch_kernel(const PersistentStep a, const EpochOrder e) {
  cg::grid_group grid = cg::this_grid();
  const Grid g = grid_place();
  for (int64_t s = 0; s < e.steps; ++s) {
    const int64_t first = s * e.batch_size;
    const Batch b{min(e.batch_size, e.rows - first), e.order + first, e.target + first, e.losses + s};
    if (!step_phases<A>(a, b, grid, g)) return;
    grid.sync();
  }
}

// One block per SM (where one fits): the fewest blocks a grid barrier waits for that still use every SM. A
// first choice, to be set by measurement (benchmarks/gpu_one_kernel.py, probes.gpu_barrier_us); 0 where the
// kernel cannot be resident at all.
template <typename Kernel>
int launch_blocks(Kernel kernel, int device) {
  int per_sm = 0, sms = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, 0) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
    return 0;
  return per_sm >= 1 ? sms : 0;
}

template <typename Kernel, typename Second>
cudaError_t launch(Kernel kernel, const PersistentStep& step, const Second& second, int device, cudaStream_t stream) {
  const int blocks = launch_blocks(kernel, device);
  if (blocks <= 0) return cudaErrorCooperativeLaunchTooLarge;
  PersistentStep a = step;
  Second b = second;
  void* args[] = {&a, &b};
  return cudaLaunchCooperativeKernel(reinterpret_cast<const void*>(kernel), dim3(blocks), dim3(kThreads), args, 0,
                                     stream);
}

}  // namespace

cudaError_t persistent_sgd_step(const PersistentStep& step, const int64_t* target, float* loss, Activation act,
                                int device, cudaStream_t stream) {
  return with_activation(act, [&](auto A) -> cudaError_t {
    return launch(persistent_step_kernel<decltype(A)::value>, step, Batch{step.N, nullptr, target, loss}, device,
                  stream);
  });
}

cudaError_t persistent_sgd_epoch(const PersistentStep& step, const EpochOrder& epoch, Activation act, int device,
                                 cudaStream_t stream) {
  return with_activation(act, [&](auto A) -> cudaError_t {
    return launch(persistent_epoch_kernel<decltype(A)::value>, step, epoch, device, stream);
  });
}

}  // namespace cuda
}  // namespace minitorch_clf
