// The fused ops' products on cuBLASLt, one matmul with any transposes and an optional bias (+ ReLU)
// epilogue: linear forward v2, and the backward's products where they are not float32. float32 with float32
// accumulation by default (no TF32, as torch's default); TF32 or bf16 tensor cores where a precision says
// so (issue 29: the products' inputs in the format, float32 sums and outputs). Its own file: the
// descriptors are owned objects, destroyed on every way out, and every cuBLASLt status is checked.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace minitorch_clf::cuda {

// The format the products read their operands in: float32; tf32 (cuBLASLt reads float32 operands at
// TF32's 10-bit mantissa, CUBLAS_COMPUTE_32F_FAST_TF32); bf16 (the operands passed as bfloat16, rounded by
// the caller). Sums and outputs float32 in all three.
enum class Precision { kFloat32, kTf32, kBf16 };

// c (M, N) row-major float32 = op(a) · op(b) (+ bias (N,) along each row, then max(., 0) where relu): a stored
// row-major (M, K), or (K, M) where trans_a (its transpose is the operand); b (K, N), or (N, K) where trans_b;
// both contiguous, float32 (precision float32, tf32) or bfloat16 (bf16). Returns false where cuBLASLt has no
// algorithm for the shape (nothing was launched); throws (c10::Error naming `what` and the call) on any
// failing status.
bool cublaslt_matmul(float* c, const void* a, bool trans_a, const void* b, bool trans_b, int64_t M, int64_t N, int64_t K,
                     Precision precision, const float* bias, bool relu, void* workspace, size_t workspace_bytes,
                     cublasLtHandle_t handle, cudaStream_t stream, const char* what);

}  // namespace minitorch_clf::cuda
