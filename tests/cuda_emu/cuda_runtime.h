// A CPU stand-in for the pieces of CUDA that kernels/cuda/persistent_step.cu uses, so that its kernels run as
// plain C++ on a machine without a GPU (tests/test_cuda_emulation.py): every CUDA thread is a std::thread,
// a warp's shuffles meet at a barrier of its 32 threads, __syncthreads at one of its block's, and a grid
// barrier at one of all. What it checks is the kernels' logic - which thread does which item, what each
// barrier separates, the arithmetic - not their speed nor the GPU's memory model (every thread here sees
// every write once the barrier after it is passed; so does CUDA's grid.sync()). Found before the kernel
// headers on the include path: kernels.h's #include <cuda_runtime.h> lands here. Not a general emulator:
// what those kernels call, no more.
#pragma once
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static          // one array for the whole grid: right only where one block uses it

using std::exp;
using std::log;
using std::fmaf;
inline float max(float a, float b) { return a > b ? a : b; }      // CUDA's float max: NaN handling aside
inline int64_t min(int64_t a, int64_t b) { return a < b ? a : b; }

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

using cudaError_t = int;
using cudaStream_t = void*;
constexpr cudaError_t cudaSuccess = 0, cudaErrorCooperativeLaunchTooLarge = 82, cudaErrorNotSupported = 801;
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16 };
inline const char* cudaGetErrorString(cudaError_t) { return "emulated"; }
// The launchers of persistent_step.cu compile against these; the emulation launches its kernels itself.
template <typename K>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* n, K, int, size_t) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) { *v = 1; return cudaSuccess; }
inline cudaError_t cudaLaunchCooperativeKernel(const void*, dim3, dim3, void**, size_t, cudaStream_t) {
  return cudaErrorNotSupported;
}

namespace cuda_emu {

struct Grid {              // the launch in progress
  unsigned blocks = 0, threads = 0;
  std::unique_ptr<std::barrier<>> all;                      // grid.sync()
  std::vector<std::unique_ptr<std::barrier<>>> block;       // __syncthreads(_or), per block
  std::vector<std::unique_ptr<std::barrier<>>> warp;        // shuffles, per warp of the grid
  std::vector<uint64_t> lanes;                              // a shuffle's values, 32 per warp
  std::vector<int> flags;                                   // __syncthreads_or's, one per thread
};
inline Grid grid;

}  // namespace cuda_emu

inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

template <typename T>
T __shfl_xor_sync(unsigned, T v, int offset) {
  static_assert(sizeof(T) <= sizeof(uint64_t));
  const unsigned warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x % 32;
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  cuda_emu::grid.lanes[warp * 32 + lane] = bits;
  cuda_emu::grid.warp[warp]->arrive_and_wait();             // every lane has written
  bits = cuda_emu::grid.lanes[warp * 32 + (lane ^ static_cast<unsigned>(offset))];
  cuda_emu::grid.warp[warp]->arrive_and_wait();             // every lane has read: the slots may change
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

inline void __syncthreads() { cuda_emu::grid.block[blockIdx.x]->arrive_and_wait(); }

// cross_entropy_rows.cuh's count_targets (the loss op's) compiles with it; the persistent kernels call neither.
inline int __syncthreads_or(int flag) {
  auto& g = cuda_emu::grid;
  const unsigned first = blockIdx.x * blockDim.x;
  g.flags[first + threadIdx.x] = flag;
  g.block[blockIdx.x]->arrive_and_wait();
  int any = 0;
  for (unsigned t = 0; t < blockDim.x; ++t) any |= g.flags[first + t];
  g.block[blockIdx.x]->arrive_and_wait();
  return any;
}

namespace cuda_emu {

// kernel(args...) on `blocks` blocks of `threads` threads (a multiple of 32), each thread a std::thread.
template <typename Kernel, typename... Args>
void launch(unsigned blocks, unsigned threads, Kernel kernel, const Args&... args) {
  grid.blocks = blocks, grid.threads = threads;
  gridDim = dim3(blocks), blockDim = dim3(threads);
  const unsigned n = blocks * threads;
  grid.all = std::make_unique<std::barrier<>>(n);
  grid.block.clear();
  for (unsigned b = 0; b < blocks; ++b) grid.block.push_back(std::make_unique<std::barrier<>>(threads));
  grid.warp.clear();
  for (unsigned w = 0; w < n / 32; ++w) grid.warp.push_back(std::make_unique<std::barrier<>>(32));
  grid.lanes.assign(n, 0);
  grid.flags.assign(n, 0);
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < n; ++t)
    pool.emplace_back([=] {
      blockIdx = dim3(t / threads);
      threadIdx = dim3(t % threads);
      kernel(args...);
      // leaving, the thread drops out of every barrier it is counted in (a flagged target returns early; the
      // whole grid does the same there)
      grid.all->arrive_and_drop();
      grid.block[t / threads]->arrive_and_drop();
      grid.warp[t / 32]->arrive_and_drop();
    });
  for (auto& th : pool) th.join();
}

}  // namespace cuda_emu
