// CUDA registrations of the minitorch_clf ops: thin bindings from tensors to the pure-CUDA launchers
// in *.cu and to cublaslt.cpp (linear forward v2). Every launch goes on the current stream and is
// checked. The schema lives in ../common/schema.cpp.
//   N = batch, I = in_features, O = out_features, C = classes
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <atomic>
#include <string>

#include "../common/validate.h"
#include "cublaslt.h"
#include "kernels.h"

namespace minitorch_clf {
namespace {

void check_launch(cudaError_t err, const char* what) {
  TORCH_CHECK(err == cudaSuccess, what, ": CUDA error: ", cudaGetErrorString(err));
}

// The format the fused CUDA ops' float32 products read their operands in (cublaslt.h's Precision), set by
// set_cuda_precision: float32 at first. Process-wide, as the CPU GEMM's format is; float64 ignores it.
std::atomic<cuda::Precision> g_precision{cuda::Precision::kFloat32};
constexpr const char* kPrecisionNames[] = {"float32", "tf32", "bf16"};   // Precision's order

cuda::Precision precision_of(const at::Tensor& t) {
  return t.scalar_type() == at::kFloat ? g_precision.load() : cuda::Precision::kFloat32;
}

std::string set_cuda_precision(c10::string_view name) {
  int i = 0;
  while (i < 3 && name != kPrecisionNames[i]) ++i;
  TORCH_CHECK(i < 3, "precision: expected 'float32', 'tf32' or 'bf16', got '", std::string(name), "'");
  return kPrecisionNames[static_cast<int>(g_precision.exchange(static_cast<cuda::Precision>(i)))];
}

// cuBLASLt's workspace for one matmul (freed to the caching allocator after the launch is queued).
constexpr size_t kWorkspaceBytes = 4 << 20;
at::Tensor lt_workspace(const at::TensorOptions& options) {
  return at::empty({static_cast<int64_t>(kWorkspaceBytes)}, options.dtype(at::kByte));
}

// A product's operand as it reads it in precision p: rounded to bf16 (to nearest even: ATen's conversion,
// functional.round_to's bits), else as it is; contiguous.
at::Tensor operand(const at::Tensor& t, cuda::Precision p) {
  return p == cuda::Precision::kBf16 ? t.to(at::kBFloat16).contiguous() : t.contiguous();
}

// (M, N) float32 = op(a) · op(b) in precision p (tf32 or bf16) on cuBLASLt's tensor cores: a stored (M, K),
// or (K, M) where ta (cublaslt_matmul's conventions), b likewise. Where cuBLASLt has no algorithm for the
// shape, bf16 runs as at::mm of the rounded operands in float32 (a product of two bf16 values is exact in
// float32: the same sums, in another order); tf32 has no such stand-in and is refused.
at::Tensor low_precision_product(const at::Tensor& a, bool ta, const at::Tensor& b, bool tb, cuda::Precision p,
                                 const char* what) {
  const int64_t M = ta ? a.size(1) : a.size(0), K = ta ? a.size(0) : a.size(1), N = tb ? b.size(0) : b.size(1);
  at::Tensor out = at::empty({M, N}, a.options().dtype(at::kFloat));
  if (M == 0 || N == 0) return out;
  if (K == 0) return out.zero_();
  const at::Tensor ao = operand(a, p), bo = operand(b, p);
  at::Tensor workspace = lt_workspace(a.options());
  if (cuda::cublaslt_matmul(out.data_ptr<float>(), ao.data_ptr(), ta, bo.data_ptr(), tb, M, N, K, p, nullptr, false,
                            workspace.data_ptr(), kWorkspaceBytes, at::cuda::getCurrentCUDABlasLtHandle(),
                            at::cuda::getCurrentCUDAStream(), what))
    return out;
  TORCH_CHECK(p == cuda::Precision::kBf16, what, ": cuBLASLt has no TF32 algorithm for (", M, ", ", K, ") x (", K,
              ", ", N, ")");
  const at::Tensor af = ao.to(at::kFloat), bf = bo.to(at::kFloat);
  return at::mm(ta ? af.t() : af, tb ? bf.t() : bf);
}

// (out, pre): pre = z (N, O) where the activation's derivative reads it, else an empty (0, 0) tensor.
std::tuple<at::Tensor, at::Tensor> outputs(const at::Tensor& x, int64_t O, Activation act) {
  const int64_t N = x.size(0);
  return {at::empty({N, O}, x.options()), at::empty({reads_pre(act) ? N : 0, reads_pre(act) ? O : 0}, x.options())};
}

// v1: the tiled kernel of linear.cu, bias and activation in its epilogue: float32 FMAs, so in bf16 on the
// operands rounded to bf16 (in float32: the products exact, the sums float32's); tf32 runs on v2 only.
std::tuple<at::Tensor, at::Tensor> linear_forward_v1(const at::Tensor& x, const at::Tensor& weight,
                                                     const at::Tensor& bias, Activation act) {
  const cuda::Precision p = precision_of(x);
  const bool products = x.size(0) > 0 && x.size(1) > 0 && weight.size(0) > 0;
  TORCH_CHECK(p != cuda::Precision::kTf32 || !products, "linear_forward v1: its tiled kernel runs float32 FMAs, not "
              "tf32 products (those run on cuBLASLt, version 2, where it has an algorithm for the shape)");
  const bool rounded = p == cuda::Precision::kBf16;
  at::Tensor xc = rounded ? operand(x, p).to(at::kFloat) : x.contiguous();
  at::Tensor wc = rounded ? operand(weight, p).to(at::kFloat) : weight.contiguous(), bc = bias.contiguous();
  auto [out, pre] = outputs(x, weight.size(0), act);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "linear_forward_v1", [&] {
    check_launch(cuda::linear_forward_tiled<scalar_t>(out.data_ptr<scalar_t>(), pre.data_ptr<scalar_t>(),
                                                      xc.data_ptr<scalar_t>(), wc.data_ptr<scalar_t>(),
                                                      bc.data_ptr<scalar_t>(), x.size(0), x.size(1), weight.size(0),
                                                      act, at::cuda::getCurrentCUDAStream()),
                 "linear_forward v1");
  });
  return {out, pre};
}

// v2: cuBLASLt (cublaslt.cpp) with its bias epilogue, ReLU included; any other activation is one more
// kernel over the output (into out from z, z kept in pre for GELU). float32 tensors only; the products in
// the process's precision (tf32 or bf16 on tensor cores).
std::tuple<at::Tensor, at::Tensor> linear_forward_v2(const at::Tensor& x, const at::Tensor& weight,
                                                     const at::Tensor& bias, Activation act) {
  TORCH_CHECK(x.scalar_type() == at::kFloat, "linear_forward v2: expected float32, got ", x.scalar_type(),
              " (v1 handles float64)");
  at::Tensor xc = x.contiguous(), wc = weight.contiguous(), bc = bias.contiguous();
  const int64_t N = x.size(0), I = x.size(1), O = weight.size(0);
  auto [out, pre] = outputs(x, O, act);
  if (N == 0 || O == 0 || I == 0) return linear_forward_v1(x, weight, bias, act);   // cuBLASLt needs sizes >= 1
  const bool in_epilogue = act == Activation::kIdentity || act == Activation::kRelu;
  at::Tensor z = reads_pre(act) ? pre : out;                            // where the matmul writes
  at::Tensor workspace = lt_workspace(x.options());
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cuda::Precision p = precision_of(x);
  const at::Tensor xo = operand(xc, p), wo = operand(wc, p);
  if (!cuda::cublaslt_matmul(z.data_ptr<float>(), xo.data_ptr(), false, wo.data_ptr(), true, N, O, I, p,
                             bc.data_ptr<float>(), act == Activation::kRelu, workspace.data_ptr(), kWorkspaceBytes,
                             at::cuda::getCurrentCUDABlasLtHandle(), stream, "linear_forward v2")) {
    return linear_forward_v1(x, weight, bias, act);                    // no algorithm for this shape
  }
  if (!in_epilogue) check_launch(cuda::apply_activation<float>(out.data_ptr<float>(), z.data_ptr<float>(), N * O, act, stream),
                                 "linear_forward v2 activation");
  return {out, pre};
}

std::tuple<at::Tensor, at::Tensor> linear_forward_v_cuda(const at::Tensor& x, const at::Tensor& weight,
                                                         const at::Tensor& bias, c10::string_view activation,
                                                         int64_t version) {
  check_linear(x, weight, bias);
  const Activation act = parse_activation(activation);
  const c10::cuda::CUDAGuard guard(x.device());
  TORCH_CHECK(version == 1 || version == 2, "version: expected 1 (tiled) or 2 (cuBLASLt), got ", version);
  return version == 1 ? linear_forward_v1(x, weight, bias, act) : linear_forward_v2(x, weight, bias, act);
}

// The default: v2 (cuBLASLt) for float32, except for a small batch through a narrow layer (N <= 128,
// I <= 256: SimpleNet's 2nd and 3rd layers at batch 64), where v1's few short tile walks beat the
// split-K GEMM plus epilogue kernels cuBLASLt picks (benchmarks/RESULTS.md has the H200 timings); v1
// for float64; v2 for every tf32 or bf16 product (tensor cores).
std::tuple<at::Tensor, at::Tensor> linear_forward_cuda(const at::Tensor& x, const at::Tensor& weight,
                                                       const at::Tensor& bias, c10::string_view activation) {
  const bool small = x.dim() == 2 && x.size(0) <= 128 && x.size(1) <= 256 && precision_of(x) == cuda::Precision::kFloat32;
  return linear_forward_v_cuda(x, weight, bias, activation, x.scalar_type() == at::kFloat && !small ? 2 : 1);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_backward_cuda(const at::Tensor& dout, const at::Tensor& x,
                                                                    const at::Tensor& weight, const at::Tensor& saved,
                                                                    c10::string_view activation, bool need_dx) {
  check_linear_backward(dout, x, weight, saved);
  const Activation act = parse_activation(activation);
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor g = dout.contiguous(), s = saved.contiguous();
  const int64_t N = g.size(0), O = g.size(1);
  at::Tensor dz = act == Activation::kIdentity ? g : at::empty_like(g);
  at::Tensor dbias = at::empty({O}, weight.options());
  at::Tensor partial = at::empty({(N + cuda::kBiasGradRows - 1) / cuda::kBiasGradRows, O}, weight.options());
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "linear_backward_cuda", [&] {
    check_launch(cuda::activation_bias_grad<scalar_t>(dz.data_ptr<scalar_t>(), dbias.data_ptr<scalar_t>(),
                                                      partial.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(),
                                                      s.data_ptr<scalar_t>(), N, O, act,
                                                      at::cuda::getCurrentCUDAStream()),
                 "linear_backward");
  });
  const cuda::Precision p = precision_of(x);                         // tf32 / bf16: cuBLASLt's tensor cores
  const bool low = p != cuda::Precision::kFloat32;
  at::Tensor dweight = low ? low_precision_product(dz, true, x.contiguous(), false, p, "linear_backward dW")
                           : at::mm(dz.t(), x);                         // (O, N)·(N, I)
  at::Tensor dx = !need_dx ? at::empty({0}, x.options())
                  : low    ? low_precision_product(dz, false, weight.contiguous(), false, p, "linear_backward dx")
                           : at::mm(dz, weight);                        // (N, O)·(O, I)
  return {dx, dweight, dbias};
}

bool stream_is_capturing(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  check_launch(cudaStreamIsCapturing(stream, &status), "cudaStreamIsCapturing");
  return status != cudaStreamCaptureStatusNone;
}

// A kernel flagged a target outside [0, C) that is not ignore_index: raise naming the first (read on the host).
void raise_bad_target(const at::Tensor& target, int64_t C, int64_t ignore_index, const char* note) {
  at::Tensor tc = target.cpu();
  const int64_t* y = tc.data_ptr<int64_t>();
  for (int64_t n = 0; n < tc.numel(); ++n) {
    TORCH_CHECK(y[n] == ignore_index || (y[n] >= 0 && y[n] < C), "target: class index ", y[n], " at position ", n,
                " is outside [0, ", C, ") and is not ignore_index (", ignore_index, ")", note);
  }
}

std::tuple<at::Tensor, at::Tensor> cross_entropy_forward_backward_cuda(const at::Tensor& logits,
                                                                       const at::Tensor& target, int64_t ignore_index) {
  check_cross_entropy(logits, target);
  const c10::cuda::CUDAGuard guard(logits.device());
  at::Tensor z = logits.contiguous(), t = target.contiguous();
  const int64_t N = z.size(0), C = z.size(1);
  at::Tensor dlogits = at::empty_like(z), loss = at::empty({}, z.options());
  at::Tensor row_loss = at::empty({N > cuda::kCrossEntropyOneBlockRows ? N : 0}, z.options());   // scratch
  at::Tensor counts = at::empty({2}, z.options().dtype(at::kInt));    // written by the kernel: no fill launch
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "cross_entropy_forward_backward_cuda", [&] {
    check_launch(cuda::cross_entropy_forward_backward<scalar_t>(
                     loss.data_ptr<scalar_t>(), dlogits.data_ptr<scalar_t>(), counts.data_ptr<int>(),
                     row_loss.data_ptr<scalar_t>(), z.data_ptr<scalar_t>(), t.data_ptr<int64_t>(), N, C,
                     ignore_index, stream),
                 "cross_entropy_forward_backward");
  });
  // The kernel flags a bad target instead of trapping. Reading the flag waits for the GPU, which a
  // CUDA graph capture cannot do: there the check is skipped (the captured step replays data that
  // already passed it).
  if (!stream_is_capturing(stream) && counts[0].item<int>() != 0) raise_bad_target(t, C, ignore_index, "");
  return {loss, dlogits};
}

template <typename T>
std::vector<cuda::TensorBatch<T>> batches(at::TensorList params, at::TensorList grads, at::TensorList s1,
                                          at::TensorList s2, at::TensorList s3, at::ArrayRef<double> step_sizes,
                                          at::ArrayRef<double> bc2) {
  std::vector<cuda::TensorBatch<T>> out;
  for (size_t i = 0; i < params.size(); ++i) {
    if (out.empty() || out.back().count == cuda::kMaxTensors) out.emplace_back();
    cuda::TensorBatch<T>& b = out.back();
    const int k = b.count++;
    b.params[k] = params[i].data_ptr<T>();
    b.grads[k] = grads[i].data_ptr<T>();
    b.state1[k] = s1.empty() ? nullptr : s1[i].data_ptr<T>();
    b.state2[k] = s2.empty() ? nullptr : s2[i].data_ptr<T>();
    b.state3[k] = s3.empty() ? nullptr : s3[i].data_ptr<T>();
    b.numel[k] = params[i].numel();
    b.step_size[k] = step_sizes.empty() ? 0.0 : step_sizes[i];
    b.bias_correction2_sqrt[k] = bc2.empty() ? 1.0 : bc2[i];
  }
  return out;
}

void check_one_dtype_and_device(at::TensorList params) {
  for (size_t i = 1; i < params.size(); ++i) {
    TORCH_CHECK(params[i].scalar_type() == params[0].scalar_type() && params[i].device() == params[0].device(),
                "params[", i, "]: expected ", params[0].scalar_type(), " on ", params[0].device(), " like params[0], got ",
                params[i].scalar_type(), " on ", params[i].device());
  }
}

void sgd_update_cuda(at::TensorList params, at::TensorList grads, at::TensorList bufs, double lr, double momentum,
                     double dampening, double weight_decay, bool nesterov, bool maximize, bool first_step) {
  if (params.empty()) return;
  check_sgd_update(params, grads, bufs, momentum);
  check_one_dtype_and_device(params);
  const c10::cuda::CUDAGuard guard(params[0].device());
  const cuda::SgdHyper h{lr, momentum, dampening, weight_decay, nesterov, maximize, first_step};
  AT_DISPATCH_FLOATING_TYPES(params[0].scalar_type(), "sgd_update_cuda", [&] {
    for (const auto& b : batches<scalar_t>(params, grads, momentum != 0 ? bufs : at::TensorList(), {}, {}, {}, {})) {
      check_launch(cuda::sgd_update<scalar_t>(b, h, at::cuda::getCurrentCUDAStream()), "sgd_update_");
    }
  });
}

void adam_update_cuda(at::TensorList params, at::TensorList grads, at::TensorList exp_avgs,
                      at::TensorList exp_avg_sqs, at::TensorList max_exp_avg_sqs, at::ArrayRef<double> step_sizes,
                      at::ArrayRef<double> bias_correction2_sqrts, double lr, double beta1, double beta2, double eps,
                      double weight_decay, bool decoupled, bool amsgrad, bool maximize) {
  if (params.empty()) return;
  check_adam_update(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, amsgrad, step_sizes,
                    bias_correction2_sqrts);
  check_one_dtype_and_device(params);
  const c10::cuda::CUDAGuard guard(params[0].device());
  const cuda::AdamHyper h{lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize};
  AT_DISPATCH_FLOATING_TYPES(params[0].scalar_type(), "adam_update_cuda", [&] {
    for (const auto& b : batches<scalar_t>(params, grads, exp_avgs, exp_avg_sqs,
                                           amsgrad ? max_exp_avg_sqs : at::TensorList(), step_sizes,
                                           bias_correction2_sqrts)) {
      check_launch(cuda::adam_update<scalar_t>(b, h, at::cuda::getCurrentCUDAStream()), "adam_update_");
    }
  });
}

void gpu_fma_chains_cuda(at::Tensor& out, int64_t iters) {
  TORCH_CHECK(out.is_cuda() && out.scalar_type() == at::kFloat && out.is_contiguous(),
              "out: expected a contiguous float32 CUDA tensor, got ", out.scalar_type(), " on ", out.device());
  TORCH_CHECK(iters >= 1, "iters: expected >= 1, got ", iters);
  const c10::cuda::CUDAGuard guard(out.device());
  if (out.numel() == 0) return;
  check_launch(cuda::fma_chains(out.data_ptr<float>(), out.numel(), iters, at::cuda::getCurrentCUDAStream()),
               "gpu_fma_chains_");
}

// The arguments of the one-kernel step and epoch (persistent_step.cu) checked, as the CPU ops take them: rows
// (n, in_features) contiguous float32 on a GPU, weights and biases contiguous float32 on it, at most
// kMaxLayers layers; momentum buffers as the parameters where momentum != 0 (the engine's first step makes
// them). Then the kernels' description with its scratch for N rows.
struct OneKernel {
  cuda::PersistentStep step;
  at::Tensor counts;                   // (2) int: [a flagged target, N']
  std::vector<at::Tensor> scratch;     // alive until the launch is queued (the allocator's stream order)
};

OneKernel one_kernel_step(const at::Tensor& rows, at::TensorList weights, at::TensorList biases,
                          at::TensorList momentum_buffers, Activation act, double lr, double momentum, double dampening,
                          double weight_decay, bool nesterov, bool maximize, int64_t N) {
  const std::vector<at::Tensor> params = step_params(weights, biases);   // w0, b0, w1, b1, ...
  const size_t L = weights.size();
  TORCH_CHECK(L <= static_cast<size_t>(cuda::kMaxLayers), "weights: the one-kernel CUDA step takes at most ",
              cuda::kMaxLayers, " layers, got ", L);
  for (size_t k = 0; k < L; ++k) {
    const at::Tensor &w = weights[k], &b = biases[k];
    check_dense("weights", w);
    check_dense("biases", b);
    const int64_t in = k == 0 ? rows.size(1) : weights[k - 1].size(0);
    TORCH_CHECK(w.dim() == 2 && w.size(1) == in, "weights[", k, "]: expected (out_features, ", in,
                ") (the in_features of ", k == 0 ? "x" : "the layer below", "), got shape ", w.sizes());
    TORCH_CHECK(b.dim() == 1 && b.size(0) == w.size(0), "biases[", k, "]: expected shape (", w.size(0), ",), got ",
                b.sizes());
    TORCH_CHECK(w.scalar_type() == at::kFloat && b.scalar_type() == at::kFloat && w.device() == rows.device() &&
                    b.device() == rows.device() && w.is_contiguous() && b.is_contiguous(),
                "weights[", k, "], biases[", k, "]: expected contiguous float32 tensors on ", rows.device(), ", got ",
                w.scalar_type(), " on ", w.device(), ", ", b.scalar_type(), " on ", b.device());
  }
  if (momentum != 0) check_lists("momentum_buffers", params, momentum_buffers);
  TORCH_CHECK(g_precision.load() == cuda::Precision::kFloat32, "precision: the one-kernel CUDA step and epoch run "
              "float32 products; the fused ops' precision is ", kPrecisionNames[static_cast<int>(g_precision.load())]);
  OneKernel one;
  cuda::PersistentStep& step = one.step;
  std::vector<at::Tensor>& scratch = one.scratch;
  step.layers = static_cast<int>(L);
  step.N = N;
  step.x = rows.data_ptr<float>();
  step.sizes[0] = rows.size(1);
  auto buffer = [&](std::initializer_list<int64_t> shape) {
    scratch.push_back(at::empty(shape, rows.options()));
    return scratch.back().data_ptr<float>();
  };
  for (size_t k = 0; k < L; ++k) {
    const int64_t O = weights[k].size(0), I = weights[k].size(1);
    step.sizes[k + 1] = O;
    step.weight[k] = weights[k].data_ptr<float>();
    step.bias[k] = biases[k].data_ptr<float>();
    step.weight_buf[k] = momentum != 0 ? momentum_buffers[2 * k].data_ptr<float>() : nullptr;
    step.bias_buf[k] = momentum != 0 ? momentum_buffers[2 * k + 1].data_ptr<float>() : nullptr;
    step.out[k] = buffer({N, O});
    step.pre[k] = reads_pre(act) && k + 1 < L ? buffer({N, O}) : nullptr;
    step.dz[k] = buffer({N, O});
    step.dweight[k] = buffer({O, I});
    step.dbias[k] = buffer({O});
  }
  step.row_loss = buffer({N});
  one.counts = at::empty({2}, rows.options().dtype(at::kInt));
  step.counts = one.counts.data_ptr<int>();
  step.ignore_index = kIgnoreIndex;
  step.h = {lr, momentum, dampening, weight_decay, nesterov, maximize, /*first_step=*/false};
  return one;
}

void check_rows(const at::Tensor& x) {
  check_dense("x", x);
  TORCH_CHECK(x.dim() == 2 && x.is_cuda() && x.scalar_type() == at::kFloat && x.is_contiguous() && x.size(0) > 0,
              "x: expected a contiguous float32 CUDA tensor (N, in_features) with N >= 1, got ", x.scalar_type(), " ",
              x.sizes(), " on ", x.device());
}

void check_targets_of(const at::Tensor& target, const at::Tensor& x) {
  check_dense("target", target);
  TORCH_CHECK(target.dim() == 1 && target.size(0) == x.size(0) && target.scalar_type() == at::kLong &&
                  target.device() == x.device() && target.is_contiguous(),
              "target: expected contiguous int64 class indices (", x.size(0), ",) on ", x.device(), ", got ",
              target.scalar_type(), " ", target.sizes(), " on ", target.device());
}

// The whole SGD step as one kernel (persistent_step.cu), as the CPU op mlp_sgd_step_ computes it: float32
// tensors on one GPU, contiguous; the momentum buffers must exist (the engine's first step makes them).
// Returns the loss. A target outside [0, C) that is not ignore_index stops the kernel before any update and
// is raised here (outside a graph capture, as the loss op does).
at::Tensor mlp_sgd_step_cuda(const at::Tensor& x, const at::Tensor& target, at::TensorList weights,
                             at::TensorList biases, at::TensorList momentum_buffers, c10::string_view activation,
                             double lr, double momentum, double dampening, double weight_decay, bool nesterov,
                             bool maximize) {
  const Activation act = parse_activation(activation);
  check_rows(x);
  check_targets_of(target, x);
  const c10::cuda::CUDAGuard guard(x.device());
  const OneKernel one = one_kernel_step(x, weights, biases, momentum_buffers, act, lr, momentum, dampening,
                                        weight_decay, nesterov, maximize, x.size(0));
  at::Tensor loss = at::empty({}, x.options());
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  check_launch(cuda::persistent_sgd_step(one.step, target.data_ptr<int64_t>(), loss.data_ptr<float>(), act,
                                         x.device().index(), stream),
               "mlp_sgd_step_");
  if (!stream_is_capturing(stream) && one.counts[0].item<int>() != 0)
    raise_bad_target(target, weights.back().size(0), kIgnoreIndex, "; no parameter was changed");
  return loss;
}

// An epoch of the one-kernel step in one launch (persistent_step.cu's epoch kernel), as the CPU op
// mlp_sgd_epoch_ trains it: step k on the rows order[k B : (k + 1) B] of x (a shorter last batch unless
// drop_last), the losses (steps,) returned. x (n, ...) is read in place, row by row through order; the
// targets are gathered in order first (one index_select). order's indices and those targets are checked
// here, before the launch (two reductions read on the host, once an epoch): a bad one is raised with no
// parameter changed.
at::Tensor mlp_sgd_epoch_cuda(const at::Tensor& x, const at::Tensor& target, const at::Tensor& order,
                              int64_t batch_size, bool drop_last, at::TensorList weights, at::TensorList biases,
                              at::TensorList momentum_buffers, c10::string_view activation, double lr, double momentum,
                              double dampening, double weight_decay, bool nesterov, bool maximize) {
  const Activation act = parse_activation(activation);
  TORCH_CHECK(batch_size >= 1, "batch_size: expected a positive int, got ", batch_size);
  TORCH_CHECK(x.dim() >= 2, "x: expected (n, ...) rows, got shape ", x.sizes());
  const at::Tensor rows = x.reshape({x.size(0), -1});
  check_rows(rows);
  check_targets_of(target, rows);
  TORCH_CHECK(order.dim() == 1 && order.scalar_type() == at::kLong && order.device() == x.device(),
              "order: expected int64 row indices (k,) on ", x.device(), ", got ", order.scalar_type(), " ",
              order.sizes(), " on ", order.device());
  const c10::cuda::CUDAGuard guard(x.device());
  const at::Tensor idx = order.contiguous();
  const int64_t n = idx.size(0), steps = drop_last ? n / batch_size : (n + batch_size - 1) / batch_size;
  if (steps == 0) return at::empty({0}, rows.options());
  const OneKernel one = one_kernel_step(rows, weights, biases, momentum_buffers, act, lr, momentum, dampening,
                                        weight_decay, nesterov, maximize, std::min(batch_size, n));
  const auto [low, high] = at::aminmax(idx);
  const int64_t lo = low.item<int64_t>(), hi = high.item<int64_t>();
  TORCH_CHECK(lo >= 0 && hi < rows.size(0), "order: expected row indices in [0, ", rows.size(0),
              "), got values from ", lo, " to ", hi);
  const at::Tensor y = target.index_select(0, idx);                  // (n,) the targets in epoch order
  const int64_t C = weights.back().size(0);
  if ((y.ne(kIgnoreIndex) & (y.lt(0) | y.ge(C))).any().item<bool>())
    raise_bad_target(y, C, kIgnoreIndex, " (a position in the epoch's order); no parameter was changed");
  at::Tensor losses = at::empty({steps}, rows.options());
  const cuda::EpochOrder epoch{idx.data_ptr<int64_t>(), y.data_ptr<int64_t>(), n, batch_size, steps,
                               losses.data_ptr<float>()};
  check_launch(cuda::persistent_sgd_epoch(one.step, epoch, act, x.device().index(), at::cuda::getCurrentCUDAStream()),
               "mlp_sgd_epoch_");
  return losses;
}

void gpu_barrier_rounds_cuda(at::Tensor& out, int64_t cluster, int64_t iters) {
  TORCH_CHECK(out.is_cuda() && out.scalar_type() == at::kInt && out.is_contiguous() && out.numel() >= 1,
              "out: expected a contiguous int32 CUDA tensor, one element per block, got ", out.scalar_type(), " ",
              out.sizes(), " on ", out.device());
  TORCH_CHECK(iters >= 0, "iters: expected >= 0, got ", iters);
  TORCH_CHECK(cluster >= 0 && cluster <= 16, "cluster: expected 0 (the whole grid) or a cluster size of 1..16, got ",
              cluster);
  const c10::cuda::CUDAGuard guard(out.device());
  const int64_t blocks = out.numel();
  if (cluster == 0) {
    const int most = cuda::max_cooperative_blocks(out.device().index());
    TORCH_CHECK(blocks <= most, "out: a grid barrier spans the blocks resident at once, at most ", most,
                " here; got ", blocks);
  } else {
    TORCH_CHECK(at::cuda::getCurrentDeviceProperties()->major >= 9,
                "cluster: thread-block clusters need compute capability 9.0, this GPU has ",
                at::cuda::getCurrentDeviceProperties()->major, ".", at::cuda::getCurrentDeviceProperties()->minor);
    TORCH_CHECK(blocks % cluster == 0, "out: expected a multiple of cluster (", cluster, ") blocks, got ", blocks);
  }
  TORCH_CHECK(blocks <= INT32_MAX, "out: at most 2^31 - 1 blocks, got ", blocks);
  check_launch(cuda::barrier_rounds(out.data_ptr<int>(), static_cast<int>(blocks), static_cast<int>(cluster), iters,
                                    at::cuda::getCurrentCUDAStream()),
               "gpu_barrier_rounds_");
}

}  // namespace

// A process-wide setting, not a tensor op: one kernel for every device.
TORCH_LIBRARY_IMPL(minitorch_clf, CompositeExplicitAutograd, m) {
  m.impl("set_cuda_precision", &set_cuda_precision);
}

TORCH_LIBRARY_IMPL(minitorch_clf, CUDA, m) {
  m.impl("linear_forward", &linear_forward_cuda);
  m.impl("linear_forward_v", &linear_forward_v_cuda);
  m.impl("linear_backward", &linear_backward_cuda);
  m.impl("cross_entropy_forward_backward", &cross_entropy_forward_backward_cuda);
  m.impl("sgd_update_", &sgd_update_cuda);
  m.impl("adam_update_", &adam_update_cuda);
  m.impl("gpu_fma_chains_", &gpu_fma_chains_cuda);
  m.impl("gpu_barrier_rounds_", &gpu_barrier_rounds_cuda);
  m.impl("mlp_sgd_step_", &mlp_sgd_step_cuda);
  m.impl("mlp_sgd_epoch_", &mlp_sgd_epoch_cuda);
}

}  // namespace minitorch_clf
