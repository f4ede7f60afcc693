// A whole SGD training step of an MLP in one call: forward (linear + bias + activation epilogues), softmax
// cross-entropy, backward and the SGD update, composed from this folder's kernels in C++. The
// arithmetic is the layer-by-layer fused step's, kernel for kernel, so the results are the same
// bits; what goes away is the Python between the ~10 op calls of a step (several hundred us on a
// 2-core CPU at batch 64, more than the GEMMs).
//   L layers: weights[k] (O_k, I_k), biases[k] (O_k,); x (N, I_0); target (N,)
#include <ATen/ATen.h>
#include <torch/library.h>

#include <vector>

#include "validate.h"
#include "cpu_ops.h"

namespace minitorch_clf {
namespace {

at::Tensor mlp_sgd_step_cpu(const at::Tensor& x, const at::Tensor& target, at::TensorList weights,
                            at::TensorList biases, at::TensorList momentum_buffers, c10::string_view activation,
                            double lr, double momentum, double dampening, double weight_decay, bool nesterov,
                            bool maximize) {
  const Activation act = parse_activation(activation);
  const size_t L = weights.size();
  TORCH_CHECK(L > 0 && biases.size() == L, "weights, biases: expected one of each per layer, got ", L, " and ",
              biases.size());
  std::vector<at::Tensor> params;            // in the optimizer's order: w0, b0, w1, b1, ...
  for (size_t k = 0; k < L; ++k) {
    params.push_back(weights[k]);
    params.push_back(biases[k]);
  }
  if (momentum != 0) check_lists("momentum_buffers", params, momentum_buffers);
  // h_0 = x, h_{k+1} = layer k's output; saved[k + 1] what act' reads of it (h_{k+1}, or z_{k+1} for GELU)
  std::vector<at::Tensor> acts{x}, saved{x};
  for (size_t k = 0; k < L; ++k) {
    auto [out, pre] = linear_forward_cpu(acts[k], weights[k], biases[k], k + 1 < L ? act : Activation::kIdentity);
    acts.push_back(out);
    saved.push_back(reads_pre(act) && k + 1 < L ? pre : out);
  }
  auto [loss, dh] = cross_entropy_forward_backward_cpu(acts[L], target);
  std::vector<at::Tensor> grads(2 * L);
  // dh reaches layer k already through layer k's activation: layer k + 1 applied act'(saved[k]) in the
  // epilogue of its dx product (`through`), where the values were still in registers.
  for (size_t k = L; k-- > 0;) {
    auto [dx, dweight, dbias] = linear_backward_cpu(dh, acts[k], weights[k], acts[k + 1], Activation::kIdentity,
                                                    /*need_dx=*/k > 0, k > 0 ? act : Activation::kIdentity, saved[k]);
    grads[2 * k] = dweight;
    grads[2 * k + 1] = dbias;
    dh = dx;
  }
  sgd_update_cpu(params, grads, momentum != 0 ? momentum_buffers : at::TensorList(), lr, momentum, dampening,
                 weight_decay, nesterov, maximize, /*first_step=*/false);
  return loss;
}

}  // namespace

TORCH_LIBRARY_IMPL(minitorch_clf, CPU, m) {
  m.impl("mlp_sgd_step_", &mlp_sgd_step_cpu);
}

}  // namespace minitorch_clf
