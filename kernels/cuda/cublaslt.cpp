// cublaslt.h's products. cuBLASLt is column-major, and a row-major matrix is its transpose there: row-major
// c (M, N) = op(a) · op(b) is column-major cᵀ (N, M) = op(b)ᵀ · op(a)ᵀ, so cuBLASLt's A is b and its B is a.
// b stored (K, N) is (N, K) column-major, op(b)ᵀ itself (no transpose); stored (N, K) it is (K, N), transposed;
// likewise a. The bias runs along the N rows of cᵀ. The forward x · Wᵀ: A = W as (I, O) transposed, B = x
// as (I, N).
#include "cublaslt.h"

#include <c10/util/Exception.h>

#include <memory>
#include <type_traits>

namespace minitorch_clf::cuda {
namespace {

struct Checker {               // the op's name, for every message
  const char* op;
  void operator()(cublasStatus_t status, const char* what) const {
    TORCH_CHECK(status == CUBLAS_STATUS_SUCCESS, op, ": ", what, ": cuBLASLt status ", static_cast<int>(status));
  }
};

// A cuBLASLt descriptor owned by a unique_ptr: Destroy runs once, however the function is left.
template <typename Handle, cublasStatus_t (*Destroy)(Handle)>
struct Deleter {
  void operator()(Handle h) const { Destroy(h); }
};
template <typename Handle, cublasStatus_t (*Destroy)(Handle)>
using Owned = std::unique_ptr<std::remove_pointer_t<Handle>, Deleter<Handle, Destroy>>;
using MatmulDesc = Owned<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy>;
using Layout = Owned<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy>;
using Preference = Owned<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy>;

Layout layout(cudaDataType_t type, int64_t rows, int64_t cols, const Checker& check, const char* what) {
  cublasLtMatrixLayout_t l = nullptr;           // column-major, packed
  check(cublasLtMatrixLayoutCreate(&l, type, rows, cols, rows), what);
  return Layout(l);
}

template <typename V>
void set(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attribute, const V& value, const Checker& check,
         const char* what) {
  check(cublasLtMatmulDescSetAttribute(desc, attribute, &value, sizeof(value)), what);
}

template <typename V>
void set(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attribute, const V& value,
         const Checker& check, const char* what) {
  check(cublasLtMatmulPreferenceSetAttribute(pref, attribute, &value, sizeof(value)), what);
}

// Largest power of two (up to 256) that divides the address: the heuristic assumes 256-byte aligned
// operands unless told otherwise (a sliced x may not be).
uint32_t alignment(const void* ptr) {
  const auto address = reinterpret_cast<uintptr_t>(ptr);
  uint32_t a = 256;
  while (a > 1 && address % a != 0) a /= 2;
  return a;
}

}  // namespace

bool cublaslt_matmul(float* c, const void* a, bool trans_a, const void* b, bool trans_b, int64_t M, int64_t N, int64_t K,
                     Precision precision, const float* bias, bool relu, void* workspace, size_t workspace_bytes,
                     cublasLtHandle_t handle, cudaStream_t stream, const char* what) {
  const Checker check{what};
  const cublasComputeType_t compute = precision == Precision::kTf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  const cudaDataType_t in = precision == Precision::kBf16 ? CUDA_R_16BF : CUDA_R_32F;
  cublasLtMatmulDesc_t raw_desc = nullptr;
  check(cublasLtMatmulDescCreate(&raw_desc, compute, CUDA_R_32F), "matmul descriptor");
  const MatmulDesc desc(raw_desc);
  set(raw_desc, CUBLASLT_MATMUL_DESC_TRANSA, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, check, "TRANSA");
  set(raw_desc, CUBLASLT_MATMUL_DESC_TRANSB, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, check, "TRANSB");
  if (bias) {
    set(raw_desc, CUBLASLT_MATMUL_DESC_EPILOGUE, relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS, check,
        "EPILOGUE");
    set(raw_desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias, check, "BIAS_POINTER");
  } else if (relu) {
    set(raw_desc, CUBLASLT_MATMUL_DESC_EPILOGUE, CUBLASLT_EPILOGUE_RELU, check, "EPILOGUE");
  }
  const Layout la = trans_b ? layout(in, K, N, check, "layout of b") : layout(in, N, K, check, "layout of b");
  const Layout lb = trans_a ? layout(in, M, K, check, "layout of a") : layout(in, K, M, check, "layout of a");
  const Layout lc = layout(CUDA_R_32F, N, M, check, "layout of c");

  cublasLtMatmulPreference_t raw_pref = nullptr;
  check(cublasLtMatmulPreferenceCreate(&raw_pref), "preference");
  const Preference pref(raw_pref);
  set(raw_pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, workspace_bytes, check, "MAX_WORKSPACE_BYTES");
  set(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, alignment(b), check, "MIN_ALIGNMENT_A_BYTES");
  set(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, alignment(a), check, "MIN_ALIGNMENT_B_BYTES");
  set(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, alignment(c), check, "MIN_ALIGNMENT_C_BYTES");
  set(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, alignment(c), check, "MIN_ALIGNMENT_D_BYTES");

  cublasLtMatmulHeuristicResult_t result = {};
  int found = 0;
  const cublasStatus_t heuristic = cublasLtMatmulAlgoGetHeuristic(handle, raw_desc, la.get(), lb.get(), lc.get(),
                                                                   lc.get(), raw_pref, 1, &result, &found);
  if (heuristic == CUBLAS_STATUS_NOT_SUPPORTED || found == 0) return false;   // no algorithm for this shape
  check(heuristic, "algorithm heuristic");
  const float alpha = 1.0f, beta = 0.0f;
  check(cublasLtMatmul(handle, raw_desc, &alpha, b, la.get(), a, lb.get(), &beta, c, lc.get(), c, lc.get(),
                       &result.algo, workspace, workspace_bytes, stream),
        "matmul");
  return true;
}

}  // namespace minitorch_clf::cuda
