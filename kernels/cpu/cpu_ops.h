// The CPU kernels of the minitorch_clf ops, callable from C++ (train_step.cpp composes them).
//   N = batch, I = in_features, O = out_features, C = classes
#pragma once
#include <ATen/ATen.h>

#include <tuple>

namespace minitorch_clf {

at::Tensor linear_forward_cpu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, bool relu);

std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_backward_cpu(const at::Tensor& dout, const at::Tensor& x,
                                                                   const at::Tensor& weight, const at::Tensor& out,
                                                                   bool relu, bool need_dx);

std::tuple<at::Tensor, at::Tensor> cross_entropy_forward_backward_cpu(const at::Tensor& logits,
                                                                      const at::Tensor& target);

void sgd_update_cpu(at::TensorList params, at::TensorList grads, at::TensorList bufs, double lr, double momentum,
                    double dampening, double weight_decay, bool nesterov, bool maximize, bool first_step);

}  // namespace minitorch_clf
