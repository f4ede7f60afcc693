// The whole SGD training step of an MLP in one kernel launch (issue 27): forward, softmax cross-entropy,
// backward and the SGD update, the phases separated by grid barriers (cooperative_groups' grid.sync()) of a
// cooperative launch instead of kernel boundaries. In a CUDA graph the layered step is ~17 kernels at
// ~1 us a node; here it is one node and 2L barriers (probes.gpu_barrier_us measures one). The epoch in one
// launch too: the same phases for every batch of the epoch's order, one barrier more between steps.
//
// The phases, L layers, every thread of the grid sharing each phase's items (grid-stride loops), batch row n
// being row rows[n] of x (the step: row n):
//   F_k    h_{k+1}[n, o] = act(z), z = h_k[n, :] . W_k[o, :] + b_k[o]          one warp per (n, o)
//          (F_0 also: block 0 counts the targets, N', and flags a bad one; after F_0's barrier every
//          block reads the flag and, where set, all return together: no parameter is touched)
//   CE     dz_{L-1}[n, :] = (softmax(z_n) - onehot(y_n)) / N', row_loss[n]      one warp per row
//          (cross_entropy_rows.cuh: the loss op's arithmetic, row for row)
//   B_k    dW_k[o, i] = sum_n dz_k[n, o] h_k[n, i]                             one thread per (o, i)
//          db_k[o]    = sum_n dz_k[n, o]                                         one thread per o
//          dz_{k-1}[n, i] = act'(s_k[n, i]) . sum_o dz_k[n, o] W_k[o, i]         one thread per (n, i), k > 0
//          and the SGD update of layer k + 1, whose gradients B_{k+1} finished (W_{k+1} is read by B_{k+1}'s
//          dx, so it changes only after that barrier); B_0 updates layer 0 in the thread that summed each
//          gradient (no phase reads W_0 after it). B_{L-1} also: block 0's warp 0 sums row_loss in a fixed
//          order into the loss.
// 2L barriers: L after the forward phases, one after CE, L - 1 between the backward ones (and in the epoch
// one after B_0, before the next step's F_0 reads W_0). Every sum runs in a fixed order (a warp's
// butterfly, a thread's loop), so the bits do not change from run to run, and a step of the epoch kernel
// is the step kernel's on the same batch. The SGD update of an element is ../common/sgd_update.h's, as the
// layered step's. float32 only.
#include <cooperative_groups.h>

#include "../common/sgd_update.h"
#include "cross_entropy_rows.cuh"
#include "kernels.h"

namespace cg = cooperative_groups;

namespace minitorch_clf {
namespace cuda {
namespace {

constexpr int kThreads = 256;

struct Grid {                  // this thread's place in the grid-stride loops
  int64_t thread, threads, warp, warps;
  int lane;
};

__device__ Grid grid_place() {
  Grid g;
  g.thread = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  g.threads = static_cast<int64_t>(gridDim.x) * blockDim.x;
  g.warp = g.thread / 32;
  g.warps = g.threads / 32;
  g.lane = threadIdx.x % 32;
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

template <Activation A>
__device__ void forward(const PersistentStep& a, const Batch& b, int k, const Grid& g) {
  const int64_t I = a.sizes[k], O = a.sizes[k + 1], items = b.N * O;
  const bool last = k == a.layers - 1;
  for (int64_t item = g.warp; item < items; item += g.warps) {    // whole warps: the shuffles stay full
    const int64_t n = item / O, o = item % O;
    const float* x = input_row(a, b, k, n);
    const float* w = a.weight[k] + o * I;
    float s = 0.f;
    for (int64_t i = g.lane; i < I; i += 32) s = fmaf(x[i], w[i], s);
    s = warp_sum(s) + a.bias[k][o];
    if (g.lane == 0) {
      if (last) {
        a.out[k][item] = s;
      } else {
        if (reads_pre(A)) a.pre[k][item] = s;
        a.out[k][item] = activate<A>(s);
      }
    }
  }
}

__device__ void cross_entropy(const PersistentStep& a, const Batch& b, const Grid& g) {
  const int L = a.layers;
  const int64_t C = a.sizes[L];
  const float inv_n = 1.f / static_cast<float>(a.counts[1]);
  for (int64_t n = g.warp; n < b.N; n += g.warps) {
    const float loss = cross_entropy_row(a.out[L - 1] + n * C, b.target[n], a.dz[L - 1] + n * C, inv_n, C,
                                         a.ignore_index);
    if (g.lane == 0) a.row_loss[n] = loss;
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

template <Activation A>
__device__ void backward(const PersistentStep& a, const Batch& b, int k, const Grid& g) {
  const int64_t N = b.N, I = a.sizes[k], O = a.sizes[k + 1];
  const float* dz = a.dz[k];
  // item ranges, in order: dW_k (O I), db_k (O), dx (N I, k > 0), the update of layer k + 1 (O' I', O')
  const int64_t n_dw = O * I, n_db = O, n_dx = k > 0 ? N * I : 0;
  const bool update_next = k + 1 < a.layers;
  const int64_t n_uw = update_next ? a.sizes[k + 2] * O : 0, n_ub = update_next ? a.sizes[k + 2] : 0;
  const int64_t total = n_dw + n_db + n_dx + n_uw + n_ub;
  for (int64_t t = g.thread; t < total; t += g.threads) {
    int64_t r = t;
    if (r < n_dw) {
      const int64_t o = r / I, i = r % I;
      float s = 0.f;
      for (int64_t n = 0; n < N; ++n) s = fmaf(dz[n * O + o], input_row(a, b, k, n)[i], s);
      a.dweight[k][r] = s;
      if (k == 0) update(a, 0, r, false);
      continue;
    }
    if ((r -= n_dw) < n_db) {
      float s = 0.f;
      for (int64_t n = 0; n < N; ++n) s += dz[n * O + r];
      a.dbias[k][r] = s;
      if (k == 0) update(a, 0, r, true);
      continue;
    }
    if ((r -= n_db) < n_dx) {
      const int64_t n = r / I, i = r % I;
      float s = 0.f;
      for (int64_t o = 0; o < O; ++o) s = fmaf(dz[n * O + o], a.weight[k][o * I + i], s);
      const float saved = reads_pre(A) ? a.pre[k - 1][r] : a.out[k - 1][r];
      a.dz[k - 1][r] = backprop<A>(s, saved);
      continue;
    }
    if ((r -= n_dx) < n_uw) {
      update(a, k + 1, r, false);
      continue;
    }
    update(a, k + 1, r - n_uw, true);
  }
}

// block 0: N' and the bad-target flag into counts (cross_entropy_rows.cuh's count).
__device__ void count(const PersistentStep& a, const Batch& b) {
  int flag = 0;
  const int counted = count_targets(b.target, b.N, a.sizes[a.layers], a.ignore_index, &flag);
  if (threadIdx.x == 0) {
    a.counts[0] = flag;
    a.counts[1] = counted;
  }
}

// block 0, warp 0: loss = sum of row_loss (lane-strided, then the butterfly: a fixed order) / N'.
__device__ void mean_loss(const PersistentStep& a, const Batch& b, const Grid& g) {
  float s = 0.f;
  for (int64_t n = g.lane; n < b.N; n += 32) s += a.row_loss[n];
  s = warp_sum(s);
  if (g.lane == 0) *b.loss = s / static_cast<float>(a.counts[1]);
}

// One step's phases on one batch. False where a target was flagged: then every block has left after F_0's
// barrier, before any update.
template <Activation A>
__device__ bool step_phases(const PersistentStep& a, const Batch& b, cg::grid_group& grid, const Grid& g) {
  if (blockIdx.x == 0) count(a, b);
  for (int k = 0; k < a.layers; ++k) {
    forward<A>(a, b, k, g);
    grid.sync();
    if (k == 0 && a.counts[0] != 0) return false;    // a bad target: every block leaves here, nothing updated
  }
  cross_entropy(a, b, g);
  grid.sync();
  if (blockIdx.x == 0 && threadIdx.x < 32) mean_loss(a, b, g);
  for (int k = a.layers - 1; k >= 0; --k) {
    backward<A>(a, b, k, g);
    if (k > 0) grid.sync();
  }
  return true;
}

template <Activation A>
__global__ void __launch_bounds__(kThreads) persistent_step_kernel(const PersistentStep a, const Batch b) {
  cg::grid_group grid = cg::this_grid();
  step_phases<A>(a, b, grid, grid_place());
}

// Step s trains on the rows order[s B : min(n, (s + 1) B)] of x (their targets gathered in that order by the
// caller) and writes its loss to losses[s]; the barrier after each step lets the next one read the weights
// B_0 updated. counts is rewritten by block 0 at each step's start: every read of the last step's came
// before that barrier.
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
