// Fused optimizer updates on the CPU: every parameter of a group in one call, each element read and
// written once. The element updates are ../common/sgd_update.h's and adam_update.h's (the CUDA kernels
// run the same functions), torch.optim's per-tensor updates operation for operation.
// Every on/off option reaches them as a compile-time constant (`with_flags`, flags.h, picks the
// instance): no branch is left in a loop, the arrays cannot alias, and the compiler vectorises each loop.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/adam_update.h"
#include "../common/sgd_update.h"
#include "../common/validate.h"
#include "cpu_ops.h"
#include "flags.h"
#include "gemm/line_vector.h"
#include "on_isa.h"

namespace minitorch_clf {
namespace {

// Elements [begin, end) of one parameter; the flags are std::bool_constant values. Called through
// on_isa (on_isa.h), which compiles them for the GEMM's instruction set.
template <typename T, typename... Flags>
void sgd_range(T* __restrict__ p, const T* __restrict__ grad, T* __restrict__ buf, int64_t begin, int64_t end,
               const SgdScalars<T> s, Flags... flags) {
  for (int64_t k = begin; k < end; ++k) sgd_element(p, grad, buf, k, s, flags...);
}

template <typename T, typename... Flags>
void adam_range(T* __restrict__ p, const T* __restrict__ grad, T* __restrict__ m, T* __restrict__ v,
                T* __restrict__ vmax, int64_t begin, int64_t end, const AdamScalars<T> s, Flags... flags) {
  for (int64_t k = begin; k < end; ++k) adam_element(p, grad, m, v, vmax, k, s, flags...);
}

}  // namespace

void sgd_update_cpu(at::TensorList params, at::TensorList grads, at::TensorList bufs, double lr, double momentum,
                    double dampening, double weight_decay, bool nesterov, bool maximize, bool first_step) {
  check_sgd_update(params, grads, bufs, momentum);
  for (size_t i = 0; i < params.size(); ++i) {
    AT_DISPATCH_FLOATING_TYPES(params[i].scalar_type(), "sgd_update_cpu", [&] {
      scalar_t* p = params[i].data_ptr<scalar_t>();
      const scalar_t* g = grads[i].data_ptr<scalar_t>();
      scalar_t* b = momentum != 0 ? bufs[i].data_ptr<scalar_t>() : nullptr;
      const auto s = sgd_scalars<scalar_t>(lr, momentum, dampening, weight_decay);
      with_flags([&](auto... flags) {
        at::parallel_for(0, params[i].numel(), gemm::kElementsPerThread, [=](int64_t begin, int64_t end) {
          on_isa([&] { sgd_range(p, g, b, begin, end, s, flags...); });
        });
      }, maximize, weight_decay != 0, momentum != 0, first_step, nesterov);
    });
  }
}

namespace {

// An outer-product gradient dW = dzᵀ · x (dz of O values, x of I; a batch of one) handed to update(i, g) row by
// row, each row made in a buffer as gemm.h's product stores it: dz[i] · x[j] + 0.0f, one term summed from zero,
// so a -0 product gives +0 there and here. Rows in ranges of about kElementsPerThread elements: the ranges the
// element updates give each thread. The update runs inside on_isa, compiled for the GEMM's ISA.
template <typename Update>
void outer_rows(const at::Tensor& weight, const at::Tensor& dz, const at::Tensor& x, const char* name,
                const Update& update) {
  const int64_t O = weight.size(0), I = weight.size(1);
  TORCH_CHECK(weight.scalar_type() == at::kFloat && weight.is_contiguous() && dz.scalar_type() == at::kFloat &&
              dz.is_contiguous() && dz.numel() == O && x.scalar_type() == at::kFloat && x.is_contiguous() &&
              x.numel() == I, name, ": expected a contiguous float32 weight (O, I), dz of O and x of I values");
  const float* d = dz.data_ptr<float>();
  const float* xs = x.data_ptr<float>();
  at::parallel_for(0, O, gemm::rows_per_grain(I), [&](int64_t r0, int64_t r1) {
    thread_local gemm::LineVector<float> row;
    row.resize(static_cast<size_t>(I));
    float* __restrict__ g = row.data();
    on_isa([&] {
      for (int64_t i = r0; i < r1; ++i) {
        for (int64_t j = 0; j < I; ++j) g[j] = d[i] * xs[j] + 0.0f;
        update(i, g);
      }
    });
  });
}

// The optimizer state of `weight` as a float32 pointer: the same shape and contiguous, checked.
float* state_of(const at::Tensor& weight, const at::Tensor& state, const char* name) {
  TORCH_CHECK(state.scalar_type() == at::kFloat && state.sizes() == weight.sizes() && state.is_contiguous(), name,
              ": expected a contiguous float32 tensor of the weight's shape");
  return state.data_ptr<float>();
}

}  // namespace

void sgd_update_outer_cpu(const at::Tensor& weight, const at::Tensor& dz, const at::Tensor& x, const at::Tensor& buf,
                          double lr, double momentum, double dampening, double weight_decay, bool nesterov,
                          bool maximize, bool first_step) {
  float* w = weight.data_ptr<float>();
  float* b = momentum != 0 ? state_of(weight, buf, "momentum_buffers") : nullptr;
  const int64_t I = weight.size(1);
  const auto s = sgd_scalars<float>(lr, momentum, dampening, weight_decay);
  with_flags([&](auto... flags) {
    outer_rows(weight, dz, x, "sgd_update_outer", [&](int64_t i, const float* g) {
      sgd_range(w + i * I, g, b ? b + i * I : nullptr, 0, I, s, flags...);
    });
  }, maximize, weight_decay != 0, momentum != 0, first_step, nesterov);
}

void adam_update_outer_cpu(const at::Tensor& weight, const at::Tensor& dz, const at::Tensor& x,
                           const at::Tensor& exp_avg, const at::Tensor& exp_avg_sq, const at::Tensor& max_exp_avg_sq,
                           double step_size, double bias_correction2_sqrt, double lr, double beta1, double beta2,
                           double eps, double weight_decay, bool decoupled, bool amsgrad, bool maximize) {
  float* w = weight.data_ptr<float>();
  float* m = state_of(weight, exp_avg, "exp_avgs");
  float* v = state_of(weight, exp_avg_sq, "exp_avg_sqs");
  float* vmax = amsgrad ? state_of(weight, max_exp_avg_sq, "max_exp_avg_sqs") : nullptr;
  const int64_t I = weight.size(1);
  const auto s = adam_scalars<float>(lr, beta1, beta2, eps, weight_decay, step_size, bias_correction2_sqrt);
  with_flags([&](auto... flags) {
    outer_rows(weight, dz, x, "adam_update_outer", [&](int64_t i, const float* g) {
      adam_range(w + i * I, g, m + i * I, v + i * I, vmax ? vmax + i * I : nullptr, 0, I, s, flags...);
    });
  }, maximize, weight_decay != 0, decoupled, amsgrad, 1 - beta1 < 0.5);
}

namespace {

// BlockUpdate::done's function for SGD and for Adam: the element update of every element of the block, row by row,
// with the gradient read from the block of C that the dW product has just stored.
template <typename... Flags>
void sgd_block(void* ctx, const float* grad, int64_t ldg, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  const BlockUpdate& u = *static_cast<const BlockUpdate*>(ctx);
  const SgdScalars<float> s = u.sgd;
  on_isa([&] {
    for (int64_t i = i0; i < i1; ++i)
      sgd_range(u.p + i * u.ld, grad + i * ldg, u.buf ? u.buf + i * u.ld : nullptr, j0, j1, s, Flags{}...);
  });
}

template <typename... Flags>
void adam_block(void* ctx, const float* grad, int64_t ldg, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  const BlockUpdate& u = *static_cast<const BlockUpdate*>(ctx);
  const AdamScalars<float> s = u.adam;
  on_isa([&] {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t r = i * u.ld;
      adam_range(u.p + r, grad + i * ldg, u.buf + r, u.v + r, u.vmax ? u.vmax + r : nullptr, j0, j1, s, Flags{}...);
    }
  });
}

}  // namespace

BlockUpdate sgd_block_update(const at::Tensor& weight, const at::Tensor& buf, double lr, double momentum,
                             double dampening, double weight_decay, bool nesterov, bool maximize, bool first_step) {
  BlockUpdate u;
  u.p = weight.data_ptr<float>();
  u.buf = momentum != 0 ? state_of(weight, buf, "momentum_buffers") : nullptr;
  u.ld = weight.size(1);
  u.sgd = sgd_scalars<float>(lr, momentum, dampening, weight_decay);
  with_flags([&](auto... flags) { u.fn = &sgd_block<decltype(flags)...>; }, maximize, weight_decay != 0,
             momentum != 0, first_step, nesterov);
  return u;
}

BlockUpdate adam_block_update(const at::Tensor& weight, const at::Tensor& exp_avg, const at::Tensor& exp_avg_sq,
                              const at::Tensor& max_exp_avg_sq, double step_size, double bias_correction2_sqrt,
                              double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                              bool amsgrad, bool maximize) {
  BlockUpdate u;
  u.p = weight.data_ptr<float>();
  u.buf = state_of(weight, exp_avg, "exp_avgs");
  u.v = state_of(weight, exp_avg_sq, "exp_avg_sqs");
  u.vmax = amsgrad ? state_of(weight, max_exp_avg_sq, "max_exp_avg_sqs") : nullptr;
  u.ld = weight.size(1);
  u.adam = adam_scalars<float>(lr, beta1, beta2, eps, weight_decay, step_size, bias_correction2_sqrt);
  with_flags([&](auto... flags) { u.fn = &adam_block<decltype(flags)...>; }, maximize, weight_decay != 0, decoupled,
             amsgrad, 1 - beta1 < 0.5);
  return u;
}

void adam_update_cpu(at::TensorList params, at::TensorList grads, at::TensorList exp_avgs,
                     at::TensorList exp_avg_sqs, at::TensorList max_exp_avg_sqs, at::ArrayRef<double> step_sizes,
                     at::ArrayRef<double> bias_correction2_sqrts, double lr, double beta1, double beta2, double eps,
                     double weight_decay, bool decoupled, bool amsgrad, bool maximize) {
  check_adam_update(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, amsgrad, step_sizes,
                    bias_correction2_sqrts);
  for (size_t i = 0; i < params.size(); ++i) {
    AT_DISPATCH_FLOATING_TYPES(params[i].scalar_type(), "adam_update_cpu", [&] {
      scalar_t* p = params[i].data_ptr<scalar_t>();
      const scalar_t* g = grads[i].data_ptr<scalar_t>();
      scalar_t* m = exp_avgs[i].data_ptr<scalar_t>();
      scalar_t* v = exp_avg_sqs[i].data_ptr<scalar_t>();
      scalar_t* vmax = amsgrad ? max_exp_avg_sqs[i].data_ptr<scalar_t>() : nullptr;
      const auto s = adam_scalars<scalar_t>(lr, beta1, beta2, eps, weight_decay, step_sizes[i],
                                            bias_correction2_sqrts[i]);
      with_flags([&](auto... flags) {
        at::parallel_for(0, params[i].numel(), gemm::kElementsPerThread, [=](int64_t begin, int64_t end) {
          on_isa([&] { adam_range(p, g, m, v, vmax, begin, end, s, flags...); });
        });
      }, maximize, weight_decay != 0, decoupled, amsgrad, 1 - beta1 < 0.5);
    });
  }
}

TORCH_LIBRARY_IMPL(minitorch_clf, CPU, m) {
  m.impl("sgd_update_", &sgd_update_cpu);
  m.impl("adam_update_", &adam_update_cpu);
}

}  // namespace minitorch_clf
