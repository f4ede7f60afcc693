// Argument checks shared by the CPU and CUDA bindings: every message names the argument,
// what was expected and what was received. Host code only (it includes ATen): the .cpp files of
// ../cpu and ../cuda, never a .cu.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "activation.h"

namespace minitorch_clf {

// The activation named in an op's `str activation` argument.
inline Activation parse_activation(c10::string_view name) {
  for (int a = 0; a < kActivations; ++a)
    if (name == kActivationNames[a]) return static_cast<Activation>(a);
  std::string names;
  for (int a = 0; a < kActivations; ++a) names += std::string(a ? ", " : "") + kActivationNames[a];
  TORCH_CHECK(false, "activation: expected one of ", names, ", got '", std::string(name), "'");
}

inline void check_dense(const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.layout() == at::kStrided, name, ": expected a dense (strided) tensor, got layout ", t.layout());
}

inline bool is_float_or_double(const at::Tensor& t) {
  return t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble;
}

// x (N, I) and weight (O, I): dense, one dtype (float32 or float64), one device.
inline void check_x_and_weight(const at::Tensor& x, const at::Tensor& weight) {
  check_dense("x", x);
  check_dense("weight", weight);
  TORCH_CHECK(weight.dim() == 2, "weight: expected (out_features, in_features), got shape ", weight.sizes());
  TORCH_CHECK(x.dim() == 2 && x.size(1) == weight.size(1), "x: expected (N, ", weight.size(1),
              ") to match weight ", weight.sizes(), ", got shape ", x.sizes());
  TORCH_CHECK(is_float_or_double(x), "x: expected float32 or float64, got ", x.scalar_type());
  TORCH_CHECK(x.scalar_type() == weight.scalar_type(), "x, weight: expected one floating dtype, got ",
              x.scalar_type(), ", ", weight.scalar_type());
  TORCH_CHECK(x.device() == weight.device(), "x, weight: expected one device, got ", x.device(), ", ",
              weight.device());
}

inline void check_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  check_x_and_weight(x, weight);
  check_dense("bias", bias);
  TORCH_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "bias: expected shape (",
              weight.size(0), ",), got ", bias.sizes());
  TORCH_CHECK(bias.scalar_type() == weight.scalar_type(), "x, weight, bias: expected one floating dtype, got ",
              x.scalar_type(), ", ", weight.scalar_type(), ", ", bias.scalar_type());
  TORCH_CHECK(bias.device() == weight.device(), "x, weight, bias: expected one device, got ", x.device(), ", ",
              weight.device(), ", ", bias.device());
}

// x and weight as the forward took them (shapes, one floating dtype, one device), then dout and saved
// (N, O) of that dtype and device: every size a kernel indexes with is checked against the others.
inline void check_linear_backward(const at::Tensor& dout, const at::Tensor& x, const at::Tensor& weight,
                                  const at::Tensor& saved) {
  check_dense("dout", dout);
  check_dense("saved", saved);
  check_x_and_weight(x, weight);
  TORCH_CHECK(dout.dim() == 2 && dout.size(0) == x.size(0) && dout.size(1) == weight.size(0),
              "dout: expected shape (", x.size(0), ", ", weight.size(0), "), got ", dout.sizes());
  TORCH_CHECK(saved.sizes() == dout.sizes(), "saved: expected the shape of dout ", dout.sizes(), ", got ",
              saved.sizes());
  TORCH_CHECK(dout.scalar_type() == x.scalar_type() && saved.scalar_type() == x.scalar_type(),
              "dout, saved: expected dtype ", x.scalar_type(), ", got ", dout.scalar_type(), ", ",
              saved.scalar_type());
  TORCH_CHECK(dout.device() == x.device() && saved.device() == x.device(), "dout, saved: expected device ", x.device(),
              ", got ", dout.device(), ", ", saved.device());
}

// F.cross_entropy's default ignore_index: the fused whole steps ignore such targets, as torch's loss does.
constexpr int64_t kIgnoreIndex = -100;

inline void check_cross_entropy(const at::Tensor& logits, const at::Tensor& target) {
  check_dense("logits", logits);
  check_dense("target", target);
  TORCH_CHECK(logits.dim() == 2, "logits: expected shape (N, C), got ", logits.sizes());
  TORCH_CHECK(is_float_or_double(logits), "logits: expected float32 or float64, got ",
              logits.scalar_type());
  TORCH_CHECK(target.dim() == 1 && target.size(0) == logits.size(0), "target: expected shape (",
              logits.size(0), ",), got ", target.sizes());
  TORCH_CHECK(target.scalar_type() == at::kLong, "target: expected int64 class indices, got ",
              target.scalar_type());
  TORCH_CHECK(target.device() == logits.device(), "target: expected device ", logits.device(), ", got ",
              target.device());
}

// The layers of a whole-step op (mlp_sgd_step_, mlp_sgd_epoch_): a weight and a bias each, at least one
// layer. Returns the parameters in the optimizer's order: w0, b0, w1, b1, ...
inline std::vector<at::Tensor> step_params(at::TensorList weights, at::TensorList biases) {
  TORCH_CHECK(!weights.empty() && biases.size() == weights.size(), "weights, biases: expected one of each per layer, got ",
              weights.size(), " and ", biases.size());
  std::vector<at::Tensor> params;
  for (size_t k = 0; k < weights.size(); ++k) {
    params.push_back(weights[k]);
    params.push_back(biases[k]);
  }
  return params;
}

inline void check_lists(const char* name, at::TensorList params, at::TensorList other) {
  TORCH_CHECK(other.size() == params.size(), name, ": expected ", params.size(), " tensors (one per param), got ",
              other.size());
  for (size_t i = 0; i < params.size(); ++i) {
    check_dense(name, other[i]);
    check_dense("params", params[i]);
    TORCH_CHECK(other[i].sizes() == params[i].sizes() && other[i].scalar_type() == params[i].scalar_type() &&
                    other[i].device() == params[i].device(),
                name, "[", i, "]: expected ", params[i].scalar_type(), " ", params[i].sizes(), " on ",
                params[i].device(), ", got ", other[i].scalar_type(), " ", other[i].sizes(), " on ",
                other[i].device());
    TORCH_CHECK(other[i].is_contiguous() && params[i].is_contiguous(), name, "[", i,
                "]: expected contiguous tensors");
  }
}

// The parameters an update writes: dense and contiguous. The whole step checks them before its first update
// (train_step.cpp: a weight's update may run inside its dW product, before the pass over the rest).
inline void check_params(at::TensorList params) {
  for (size_t i = 0; i < params.size(); ++i) {
    check_dense("params", params[i]);
    TORCH_CHECK(params[i].is_contiguous(), "params[", i, "]: expected contiguous tensors");
  }
}

// The lists of an SGD / Adam update: one tensor per parameter in each, and one step size each.
inline void check_sgd_update(at::TensorList params, at::TensorList grads, at::TensorList bufs, double momentum) {
  check_lists("grads", params, grads);
  if (momentum != 0) check_lists("momentum_buffers", params, bufs);
}

// Adam's state and step sizes, one of each per parameter (the whole-step op checks them before it makes the
// gradients).
inline void check_adam_state(at::TensorList params, at::TensorList exp_avgs, at::TensorList exp_avg_sqs,
                             at::TensorList max_exp_avg_sqs, bool amsgrad, at::ArrayRef<double> step_sizes,
                             at::ArrayRef<double> bias_correction2_sqrts) {
  check_lists("exp_avgs", params, exp_avgs);
  check_lists("exp_avg_sqs", params, exp_avg_sqs);
  if (amsgrad) check_lists("max_exp_avg_sqs", params, max_exp_avg_sqs);
  TORCH_CHECK(step_sizes.size() == params.size() && bias_correction2_sqrts.size() == params.size(),
              "step_sizes, bias_correction2_sqrts: expected ", params.size(), " values each, got ",
              step_sizes.size(), " and ", bias_correction2_sqrts.size());
}

inline void check_adam_update(at::TensorList params, at::TensorList grads, at::TensorList exp_avgs,
                              at::TensorList exp_avg_sqs, at::TensorList max_exp_avg_sqs, bool amsgrad,
                              at::ArrayRef<double> step_sizes, at::ArrayRef<double> bias_correction2_sqrts) {
  check_lists("grads", params, grads);
  check_adam_state(params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, amsgrad, step_sizes, bias_correction2_sqrts);
}

}  // namespace minitorch_clf
