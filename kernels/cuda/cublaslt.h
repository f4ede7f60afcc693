// Linear forward v2: one cuBLASLt matmul with its bias (+ ReLU) epilogue, float32 with float32
// accumulation (no TF32, as torch's default). Its own file: the descriptors are owned objects,
// destroyed on every way out, and every cuBLASLt status is checked.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace minitorch_clf::cuda {

// out (N, O) = x (N, I) · W (O, I)ᵀ + bias (O,), then max(., 0) where relu; all row-major and contiguous.
// Returns false where cuBLASLt has no algorithm for the shape (nothing was launched: the caller takes
// v1); throws (c10::Error naming the call) on any failing status.
bool cublaslt_linear(float* out, const float* x, const float* w, const float* bias, int64_t N, int64_t I, int64_t O,
                     bool relu, void* workspace, size_t workspace_bytes, cublasLtHandle_t handle,
                     cudaStream_t stream);

}  // namespace minitorch_clf::cuda
