// A whole SGD or Adam training step of an MLP in one call: forward (linear + bias + activation epilogues),
// softmax cross-entropy, backward and the optimizer's update, composed from this folder's kernels in C++. The
// arithmetic is the layer-by-layer fused step's, kernel for kernel, so the results are the same
// bits; what goes away is the Python between the ~10 op calls of a step (several hundred us on a
// 2-core CPU at batch 64, more than the GEMMs). One piece differs at a batch of one row: there each dW is an
// outer product, and the step has no dW product; its update makes each row of dW from dz and x itself
// (sgd_update_outer_cpu, adam_update_outer_cpu), the same values, so again the same bits.
// Its pieces are torch.profiler scopes ("step: fc1 forward", "step: cross-entropy", "step: fc3 backward",
// "step: sgd update" or "step: adam update"; linear.cpp's "backward: ..." inside the backward ones), so a
// trace of the one call still shows where its time goes; with no profiler running a scope costs one check.
//   L layers: weights[k] (O_k, I_k), biases[k] (O_k,); x (N, I_0); target (N,)
#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <torch/library.h>

#include <string>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../common/validate.h"
#include "cpu_ops.h"

namespace minitorch_clf {
namespace {

// A layer whose dW = dzᵀ · x is one outer product, left to the update (sgd_update_outer_cpu): dz (1, O), x (1, I).
struct OuterGrad {
  at::Tensor dz, x;
};

// Whether a layer's input x (N, I) and weight (O, I) make a dW the update can compute from dz and x with the
// bits the dW product stores: one row (N = 1, so each element is one product, no sum), float32 products by
// gemm.h's GEMM (the value sgd_update_outer_cpu reproduces), x's row and the weight contiguous. (Anything else
// takes the dW product, and the update's checks come before any parameter changes, as they did.)
bool outer_dweight(const at::Tensor& x, const at::Tensor& weight) {
  return x.size(0) == 1 && x.scalar_type() == at::kFloat && x.is_contiguous() && weight.is_contiguous() &&
         gemm::default_format() == gemm::Format::kFloat32 && use_own_gemm(x, weight.size(0), x.size(1), 1);
}

// The entries of xs (one per parameter, step_params' order) whose parameter has a stored gradient: at a batch of
// one the weights' are left to the outer-product updates.
template <typename List>
auto with_grad(const List& xs, const std::vector<at::Tensor>& grads) {
  std::vector<std::decay_t<decltype(xs[0])>> out;
  for (size_t i = 0; i < grads.size(); ++i)
    if (grads[i].defined()) out.push_back(xs[i]);
  return out;
}

// The step's loss and the gradient of every parameter, in step_params' order (w0, b0, w1, b1, ...): the
// forward, the cross-entropy and the backward that every optimizer's step below shares. With `outer`, a
// weight whose dW is one outer product (outer_dweight: a batch of one) gets no dW: its grads entry stays
// undefined and outer[k] holds the dz and x it is made of.
std::pair<at::Tensor, std::vector<at::Tensor>> loss_and_grads(const at::Tensor& x, const at::Tensor& target,
                                                              at::TensorList weights, at::TensorList biases,
                                                              Activation act, std::vector<OuterGrad>* outer = nullptr) {
  const size_t L = weights.size();
  // h_0 = x, h_{k+1} = layer k's output; saved[k + 1] what act' reads of it (h_{k+1}, or z_{k+1} for GELU)
  std::vector<at::Tensor> acts{x}, saved{x};
  // bf16 products on AMX: layer k's input, read by its forward (as A) and its dW (as B), is paired as B by
  // its forward where that pays (gemm.h's Bf16Pairs and pairs_pay; the same bits as pairing it in each
  // product). The buffers stay with the thread between steps.
  thread_local std::vector<gemm::Bf16Pairs> pairs;
  if (pairs.size() < L) pairs.resize(L);
  const auto pairs_of = [&](size_t k) -> gemm::Bf16Pairs* {
    const at::Tensor& h = acts[k];
    const bool rows = h.dim() == 2 && h.scalar_type() == at::kFloat && h.stride(1) == 1;
    return rows && gemm::pairs_pay(h.size(0), h.size(1)) ? &pairs[k] : nullptr;
  };
  for (size_t k = 0; k < L; ++k) {
    RECORD_FUNCTION("step: fc" + std::to_string(k + 1) + " forward", c10::ArrayRef<const c10::IValue>{});
    auto [out, pre] = linear_forward_cpu(acts[k], weights[k], biases[k], k + 1 < L ? act : Activation::kIdentity, pairs_of(k));
    acts.push_back(out);
    saved.push_back(reads_pre(act) && k + 1 < L ? pre : out);
  }
  at::Tensor loss, dh;
  {
    RECORD_FUNCTION("step: cross-entropy", c10::ArrayRef<const c10::IValue>{});
    std::tie(loss, dh) = cross_entropy_forward_backward_cpu(acts[L], target, kIgnoreIndex);
  }
  std::vector<at::Tensor> grads(2 * L);
  // dh reaches layer k already through layer k's activation: layer k + 1 applied act'(saved[k]) in the
  // epilogue of its dx product (`through`), where the values were still in registers.
  for (size_t k = L; k-- > 0;) {
    RECORD_FUNCTION("step: fc" + std::to_string(k + 1) + " backward", c10::ArrayRef<const c10::IValue>{});
    const bool left = outer && outer_dweight(acts[k], weights[k]);
    auto [dx, dweight, dbias] = linear_backward_cpu(dh, acts[k], weights[k], acts[k + 1], Activation::kIdentity,
                                                    /*need_dx=*/k > 0, k > 0 ? act : Activation::kIdentity, saved[k],
                                                    pairs_of(k), /*need_dweight=*/!left);
    if (left) {
      if (outer->size() < L) outer->resize(L);
      (*outer)[k] = {dh, acts[k]};             // dh is this layer's dz: its activation was applied above
    }
    grads[2 * k] = dweight;
    grads[2 * k + 1] = dbias;
    dh = dx;
  }
  return {loss, grads};
}

at::Tensor mlp_sgd_step_cpu(const at::Tensor& x, const at::Tensor& target, at::TensorList weights,
                            at::TensorList biases, at::TensorList momentum_buffers, c10::string_view activation,
                            double lr, double momentum, double dampening, double weight_decay, bool nesterov,
                            bool maximize) {
  const Activation act = parse_activation(activation);
  const std::vector<at::Tensor> params = step_params(weights, biases);   // w0, b0, w1, b1, ...
  if (momentum != 0) check_lists("momentum_buffers", params, momentum_buffers);
  // At a batch of one, each dW is an outer product and the update computes it row by row (sgd_update_outer_cpu):
  // dW is never written and read back (fc1's: 400 KB stored, then read by the update). On the 2-core Xeon of
  // 2026-12-06 the step at batch 1 took 36-41 us instead of 73-84 (benchmarks/RESULTS.md, tenth session).
  std::vector<OuterGrad> outer;
  const auto [loss, grads] = loss_and_grads(x, target, weights, biases, act, &outer);
  RECORD_FUNCTION("step: sgd update", c10::ArrayRef<const c10::IValue>{});
  sgd_update_cpu(with_grad(params, grads), with_grad(grads, grads),
                 momentum != 0 ? with_grad(momentum_buffers, grads) : std::vector<at::Tensor>(), lr, momentum,
                 dampening, weight_decay, nesterov, maximize, /*first_step=*/false);
  for (size_t k = 0; k < outer.size(); ++k) {
    if (outer[k].dz.defined()) {
      sgd_update_outer_cpu(weights[k], outer[k].dz, outer[k].x, momentum != 0 ? momentum_buffers[2 * k] : at::Tensor(),
                           lr, momentum, dampening, weight_decay, nesterov, maximize, /*first_step=*/false);
    }
  }
  return loss;
}

// The same step with Adam's or AdamW's update (adam_update_'s). Step t = steps[i] + 1 of parameter i has the
// bias corrections optim/adam.py computes on the host, in the same double operations (Python's ** is C's
// pow, so (1 - beta2^t)^0.5 is pow(., 0.5) here, not sqrt): lr / (1 - beta1^t) and (1 - beta2^t)^0.5.
// The counts advance once the update is done (a bad target stops the step before anything changes).
at::Tensor mlp_adam_step_cpu(const at::Tensor& x, const at::Tensor& target, at::TensorList weights,
                             at::TensorList biases, at::TensorList steps, at::TensorList exp_avgs,
                             at::TensorList exp_avg_sqs, at::TensorList max_exp_avg_sqs, c10::string_view activation,
                             double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                             bool amsgrad, bool maximize) {
  const Activation act = parse_activation(activation);
  const std::vector<at::Tensor> params = step_params(weights, biases);
  TORCH_CHECK(steps.size() == params.size(), "steps: expected ", params.size(), " step counts (one per param), got ",
              steps.size());
  std::vector<double> step_sizes, bias_correction2_sqrts;
  for (const at::Tensor& s : steps) {
    TORCH_CHECK(s.numel() == 1 && s.device().is_cpu() && at::isFloatingType(s.scalar_type()),
                "steps: expected a floating-point CPU scalar per param (optim.Adam's `step`), got ", s.scalar_type(),
                " ", s.sizes(), " on ", s.device());
    const double t = s.item<double>() + 1;
    step_sizes.push_back(lr / (1 - std::pow(beta1, t)));
    bias_correction2_sqrts.push_back(std::pow(1 - std::pow(beta2, t), 0.5));
  }
  check_adam_state(params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, amsgrad, step_sizes, bias_correction2_sqrts);
  std::vector<OuterGrad> outer;                // at a batch of one: no dW (mlp_sgd_step_cpu says why)
  const auto [loss, grads] = loss_and_grads(x, target, weights, biases, act, &outer);
  RECORD_FUNCTION("step: adam update", c10::ArrayRef<const c10::IValue>{});
  adam_update_cpu(with_grad(params, grads), with_grad(grads, grads), with_grad(exp_avgs, grads),
                  with_grad(exp_avg_sqs, grads),
                  amsgrad ? with_grad(max_exp_avg_sqs, grads) : std::vector<at::Tensor>(),
                  with_grad(step_sizes, grads), with_grad(bias_correction2_sqrts, grads), lr, beta1, beta2, eps,
                  weight_decay, decoupled, amsgrad, maximize);
  for (size_t k = 0; k < outer.size(); ++k) {
    if (outer[k].dz.defined()) {
      adam_update_outer_cpu(weights[k], outer[k].dz, outer[k].x, exp_avgs[2 * k], exp_avg_sqs[2 * k],
                            amsgrad ? max_exp_avg_sqs[2 * k] : at::Tensor(), step_sizes[2 * k],
                            bias_correction2_sqrts[2 * k], lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad,
                            maximize);
    }
  }
  for (const at::Tensor& s : steps) s.add_(1);
  return loss;
}

// An epoch of steps in one call: step k gathers the rows order[k B : (k + 1) B] of x and target (index_select,
// as the Python loop over TensorLoader's batches does) and trains on them with step(xb, yb) -> loss; order
// may hold fewer indices than x has rows (the rest of an epoch). What goes away is the Python around each
// step (its checks, the gathers' dispatch, the op call).
template <typename Step>
at::Tensor epoch_of(const at::Tensor& x, const at::Tensor& target, const at::Tensor& order, int64_t batch_size,
                    bool drop_last, const Step& step) {
  TORCH_CHECK(batch_size >= 1, "batch_size: expected a positive int, got ", batch_size);
  TORCH_CHECK(x.dim() >= 2, "x: expected (n, ...) rows, got shape ", x.sizes());
  TORCH_CHECK(target.dim() == 1 && target.size(0) == x.size(0), "target: expected shape (", x.size(0), ",), got ",
              target.sizes());
  TORCH_CHECK(order.dim() == 1 && order.scalar_type() == at::kLong, "order: expected int64 row indices (k,), got ",
              order.scalar_type(), " ", order.sizes());
  const at::Tensor rows = x.reshape({x.size(0), -1});
  const int64_t n = order.size(0), steps = drop_last ? n / batch_size : (n + batch_size - 1) / batch_size;
  std::vector<at::Tensor> losses;
  losses.reserve(static_cast<size_t>(steps));
  // One batch buffer for every full batch, gathered into in place: no allocation per step.
  at::Tensor xb = at::empty({std::min(batch_size, n), rows.size(1)}, rows.options());
  at::Tensor yb = at::empty({std::min(batch_size, n)}, target.options());
  for (int64_t k = 0; k < steps; ++k) {
    const at::Tensor idx = order.slice(0, k * batch_size, std::min(n, (k + 1) * batch_size));
    if (idx.size(0) != xb.size(0)) {                     // the last, short batch
      xb = at::empty({idx.size(0), rows.size(1)}, rows.options());
      yb = at::empty({idx.size(0)}, target.options());
    }
    at::index_select_out(xb, rows, 0, idx);
    at::index_select_out(yb, target, 0, idx);
    losses.push_back(step(xb, yb));
  }
  return losses.empty() ? at::empty({0}, x.options()) : at::stack(losses);
}

at::Tensor mlp_sgd_epoch_cpu(const at::Tensor& x, const at::Tensor& target, const at::Tensor& order,
                             int64_t batch_size, bool drop_last, at::TensorList weights, at::TensorList biases,
                             at::TensorList momentum_buffers, c10::string_view activation, double lr, double momentum,
                             double dampening, double weight_decay, bool nesterov, bool maximize) {
  return epoch_of(x, target, order, batch_size, drop_last, [&](const at::Tensor& xb, const at::Tensor& yb) {
    return mlp_sgd_step_cpu(xb, yb, weights, biases, momentum_buffers, activation, lr, momentum, dampening,
                            weight_decay, nesterov, maximize);
  });
}

at::Tensor mlp_adam_epoch_cpu(const at::Tensor& x, const at::Tensor& target, const at::Tensor& order,
                              int64_t batch_size, bool drop_last, at::TensorList weights, at::TensorList biases,
                              at::TensorList steps, at::TensorList exp_avgs, at::TensorList exp_avg_sqs,
                              at::TensorList max_exp_avg_sqs, c10::string_view activation, double lr, double beta1,
                              double beta2, double eps, double weight_decay, bool decoupled, bool amsgrad,
                              bool maximize) {
  return epoch_of(x, target, order, batch_size, drop_last, [&](const at::Tensor& xb, const at::Tensor& yb) {
    return mlp_adam_step_cpu(xb, yb, weights, biases, steps, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, activation, lr,
                             beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize);
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(minitorch_clf, CPU, m) {
  m.impl("mlp_sgd_step_", &mlp_sgd_step_cpu);
  m.impl("mlp_adam_step_", &mlp_adam_step_cpu);
  m.impl("mlp_sgd_epoch_", &mlp_sgd_epoch_cpu);
  m.impl("mlp_adam_epoch_", &mlp_adam_epoch_cpu);
}

}  // namespace minitorch_clf
