// cublaslt.h's matmul. Row-major out (N, O) is column-major (O, N): out_c = W_cᵀ · x_c with W_c = W
// viewed as (I, O) and x_c = x viewed as (I, N); the bias runs along the O rows of out_c.
#include "cublaslt.h"

#include <c10/util/Exception.h>

#include <memory>
#include <type_traits>

namespace minitorch_clf::cuda {
namespace {

void check(cublasStatus_t status, const char* what) {
  TORCH_CHECK(status == CUBLAS_STATUS_SUCCESS, "linear_forward v2: ", what, ": cuBLASLt status ",
              static_cast<int>(status));
}

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

Layout layout(int64_t rows, int64_t cols, const char* what) {   // float32, column-major, packed
  cublasLtMatrixLayout_t l = nullptr;
  check(cublasLtMatrixLayoutCreate(&l, CUDA_R_32F, rows, cols, rows), what);
  return Layout(l);
}

template <typename V>
void set(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attribute, const V& value, const char* what) {
  check(cublasLtMatmulDescSetAttribute(desc, attribute, &value, sizeof(value)), what);
}

template <typename V>
void set(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attribute, const V& value,
         const char* what) {
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

bool cublaslt_linear(float* out, const float* x, const float* w, const float* bias, int64_t N, int64_t I, int64_t O,
                     bool relu, void* workspace, size_t workspace_bytes, cublasLtHandle_t handle,
                     cudaStream_t stream) {
  cublasLtMatmulDesc_t raw_desc = nullptr;
  check(cublasLtMatmulDescCreate(&raw_desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "matmul descriptor");
  const MatmulDesc desc(raw_desc);
  set(raw_desc, CUBLASLT_MATMUL_DESC_TRANSA, CUBLAS_OP_T, "TRANSA");
  set(raw_desc, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N, "TRANSB");
  set(raw_desc, CUBLASLT_MATMUL_DESC_EPILOGUE, relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS,
      "EPILOGUE");
  set(raw_desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias, "BIAS_POINTER");
  const Layout a = layout(I, O, "layout of W"), b = layout(I, N, "layout of x"), c = layout(O, N, "layout of out");

  cublasLtMatmulPreference_t raw_pref = nullptr;
  check(cublasLtMatmulPreferenceCreate(&raw_pref), "preference");
  const Preference pref(raw_pref);
  set(raw_pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, workspace_bytes, "MAX_WORKSPACE_BYTES");
  set(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, alignment(w), "MIN_ALIGNMENT_A_BYTES");
  set(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, alignment(x), "MIN_ALIGNMENT_B_BYTES");
  set(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, alignment(out), "MIN_ALIGNMENT_C_BYTES");
  set(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, alignment(out), "MIN_ALIGNMENT_D_BYTES");

  cublasLtMatmulHeuristicResult_t result = {};
  int found = 0;
  const cublasStatus_t heuristic =
      cublasLtMatmulAlgoGetHeuristic(handle, raw_desc, a.get(), b.get(), c.get(), c.get(), raw_pref, 1, &result, &found);
  if (heuristic == CUBLAS_STATUS_NOT_SUPPORTED || found == 0) return false;   // no algorithm for this shape
  check(heuristic, "algorithm heuristic");
  const float alpha = 1.0f, beta = 0.0f;
  check(cublasLtMatmul(handle, raw_desc, &alpha, w, a.get(), x, b.get(), &beta, out, c.get(), out, c.get(),
                       &result.algo, workspace, workspace_bytes, stream),
        "matmul");
  return true;
}

}  // namespace minitorch_clf::cuda
