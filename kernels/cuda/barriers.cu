// What a barrier costs inside one kernel, measured: the persistent step of issue 27 (forward, loss,
// backward and update in one launch) separates its phases by barriers instead of kernel boundaries, and a
// kernel boundary in a CUDA graph costs ~1 us on an H200. Two barriers to choose from:
//   grid:    cooperative_groups' grid.sync() over every block of a cooperative launch (all resident);
//   cluster: cluster.sync() over a thread-block cluster (compute capability 9.0: up to 8 blocks portably,
//            16 with the non-portable size; they share distributed shared memory).
// Each block runs `iters` barriers and nothing else; its thread 0 writes how many it passed. Timed around
// the launch (probes.gpu_barrier_us): (time of iters barriers - time of none) / iters.
#include <cooperative_groups.h>

#include "kernels.h"

namespace cg = cooperative_groups;

namespace minitorch_clf {
namespace cuda {
namespace {

// `iters` barriers of the group, then the count passed to out[block].
template <typename Group>
__device__ void rounds(Group group, int* __restrict__ out, int64_t iters) {
  int passed = 0;
  for (int64_t k = 0; k < iters; ++k) {
    group.sync();
    ++passed;
  }
  if (threadIdx.x == 0) out[blockIdx.x] = passed;
}

__global__ void grid_rounds_kernel(int* __restrict__ out, int64_t iters) { rounds(cg::this_grid(), out, iters); }

__global__ void cluster_rounds_kernel(int* __restrict__ out, int64_t iters) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  rounds(cg::this_cluster(), out, iters);
#endif
}

}  // namespace

cudaError_t barrier_rounds(int* out, int blocks, int cluster, int64_t iters, cudaStream_t stream) {
  if (cluster == 0) {
    void* args[] = {&out, &iters};
    return cudaLaunchCooperativeKernel(reinterpret_cast<const void*>(grid_rounds_kernel), dim3(blocks),
                                       dim3(kBarrierThreads), args, 0, stream);
  }
  if (cluster > 8) {
    const cudaError_t e = cudaFuncSetAttribute(cluster_rounds_kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
    if (e != cudaSuccess) return e;
  }
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(blocks);
  config.blockDim = dim3(kBarrierThreads);
  config.stream = stream;
  cudaLaunchAttribute attribute;
  attribute.id = cudaLaunchAttributeClusterDimension;
  attribute.val.clusterDim.x = cluster;
  attribute.val.clusterDim.y = 1;
  attribute.val.clusterDim.z = 1;
  config.attrs = &attribute;
  config.numAttrs = 1;
  return cudaLaunchKernelEx(&config, cluster_rounds_kernel, out, iters);
}

int max_cooperative_blocks(int device) {
  int per_sm = 0, sms = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, grid_rounds_kernel, kBarrierThreads, 0) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
    return 0;
  return per_sm * sms;
}

}  // namespace cuda
}  // namespace minitorch_clf
