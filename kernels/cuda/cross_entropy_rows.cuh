// The warp-level pieces of the softmax cross-entropy, shared by cross_entropy.cu (the loss op) and
// persistent_step.cu (the whole step in one kernel): the same arithmetic, row for row, in both. Pure
// CUDA, in an unnamed namespace: each file that includes it gets its own copy.
#pragma once
#include <cmath>
#include <cstdint>

namespace minitorch_clf {
namespace cuda {
namespace {

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

}  // namespace
}  // namespace cuda
}  // namespace minitorch_clf
