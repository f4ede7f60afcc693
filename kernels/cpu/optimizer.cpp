// Fused optimizer updates on the CPU: every parameter of a group in one call, each element read and
// written once. The arithmetic follows torch.optim's per-tensor updates operation for operation
// (see minitorch_clf/optim.py for the algorithm), so results match it to rounding.
// The element loops are templates over restrict pointers with every on/off option a compile-time
// constant (`with_flags`, flags.h, picks the instance): no branch is left in a loop, the arrays cannot alias,
// and the compiler vectorises each loop.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>

#include "validate.h"
#include "cpu_ops.h"
#include "flags.h"

namespace minitorch_clf {
namespace {

constexpr int64_t kGrain = 32768;

struct SgdOptions {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize, first_step;
};

template <typename scalar_t, bool kMaximize, bool kDecay, bool kMomentum, bool kFirst, bool kNesterov>
void sgd_range(scalar_t* __restrict__ p, const scalar_t* __restrict__ grad, scalar_t* __restrict__ buf,
               int64_t begin, int64_t end, const SgdOptions o) {
  const auto wd = static_cast<scalar_t>(o.weight_decay), mu = static_cast<scalar_t>(o.momentum);
  const auto damp = static_cast<scalar_t>(1 - o.dampening), neg_lr = static_cast<scalar_t>(-o.lr);
  for (int64_t k = begin; k < end; ++k) {
    scalar_t g = kMaximize ? -grad[k] : grad[k];
    if constexpr (kDecay) g = g + wd * p[k];
    if constexpr (kMomentum) {
      const scalar_t b = kFirst ? g : buf[k] * mu + damp * g;        // first step: the buffer is g
      buf[k] = b;
      g = kNesterov ? g + mu * b : b;
    }
    p[k] = p[k] + neg_lr * g;
  }
}

struct AdamOptions {
  double lr, beta1, beta2, eps, weight_decay, step_size, bias_correction2_sqrt;
  bool decoupled, amsgrad, maximize;
};

template <typename scalar_t, bool kMaximize, bool kDecay, bool kDecoupled, bool kAmsgrad, bool kLowWeight>
void adam_range(scalar_t* __restrict__ p, const scalar_t* __restrict__ grad, scalar_t* __restrict__ m,
                scalar_t* __restrict__ v, scalar_t* __restrict__ vmax, int64_t begin, int64_t end,
                const AdamOptions o) {
  const auto decay = static_cast<scalar_t>(1 - o.lr * o.weight_decay), wd = static_cast<scalar_t>(o.weight_decay);
  const auto w1 = static_cast<scalar_t>(1 - o.beta1), b2 = static_cast<scalar_t>(o.beta2);
  const auto w2 = static_cast<scalar_t>(1 - o.beta2), eps = static_cast<scalar_t>(o.eps);
  const auto neg_step = static_cast<scalar_t>(-o.step_size), bc2 = static_cast<scalar_t>(o.bias_correction2_sqrt);
  for (int64_t k = begin; k < end; ++k) {
    scalar_t g = kMaximize ? -grad[k] : grad[k];
    scalar_t w = p[k];
    if constexpr (kDecay && kDecoupled) w = w * decay;
    if constexpr (kDecay && !kDecoupled) g = g + wd * w;
    // lerp(m, g, w1) in torch's two-sided form (exact at both ends)
    const scalar_t mk = kLowWeight ? m[k] + w1 * (g - m[k]) : g - (g - m[k]) * (scalar_t(1) - w1);
    const scalar_t vk = v[k] * b2 + w2 * g * g;
    m[k] = mk;
    v[k] = vk;
    scalar_t second = vk;
    if constexpr (kAmsgrad) second = vmax[k] = std::max(vmax[k], vk);
    p[k] = w + neg_step * mk / (std::sqrt(second) / bc2 + eps);
  }
}

}  // namespace

void sgd_update_cpu(at::TensorList params, at::TensorList grads, at::TensorList bufs, double lr, double momentum,
                    double dampening, double weight_decay, bool nesterov, bool maximize, bool first_step) {
  check_sgd_update(params, grads, bufs, momentum);
  const SgdOptions o{lr, momentum, dampening, weight_decay, nesterov, maximize, first_step};
  for (size_t i = 0; i < params.size(); ++i) {
    AT_DISPATCH_FLOATING_TYPES(params[i].scalar_type(), "sgd_update_cpu", [&] {
      scalar_t* p = params[i].data_ptr<scalar_t>();
      const scalar_t* g = grads[i].data_ptr<scalar_t>();
      scalar_t* b = momentum != 0 ? bufs[i].data_ptr<scalar_t>() : nullptr;
      with_flags([&](auto max, auto decay, auto mom, auto first, auto nest) {
        at::parallel_for(0, params[i].numel(), kGrain, [=](int64_t begin, int64_t end) {
          sgd_range<scalar_t, max, decay, mom, first, nest>(p, g, b, begin, end, o);
        });
      }, maximize, weight_decay != 0, momentum != 0, first_step, nesterov);
    });
  }
}

void adam_update_cpu(at::TensorList params, at::TensorList grads, at::TensorList exp_avgs,
                     at::TensorList exp_avg_sqs, at::TensorList max_exp_avg_sqs, at::ArrayRef<double> step_sizes,
                     at::ArrayRef<double> bias_correction2_sqrts, double lr, double beta1, double beta2, double eps,
                     double weight_decay, bool decoupled, bool amsgrad, bool maximize) {
  check_adam_update(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, amsgrad, step_sizes,
                    bias_correction2_sqrts);
  for (size_t i = 0; i < params.size(); ++i) {
    const AdamOptions o{lr, beta1, beta2, eps, weight_decay, step_sizes[i], bias_correction2_sqrts[i],
                        decoupled, amsgrad, maximize};
    AT_DISPATCH_FLOATING_TYPES(params[i].scalar_type(), "adam_update_cpu", [&] {
      scalar_t* p = params[i].data_ptr<scalar_t>();
      const scalar_t* g = grads[i].data_ptr<scalar_t>();
      scalar_t* m = exp_avgs[i].data_ptr<scalar_t>();
      scalar_t* v = exp_avg_sqs[i].data_ptr<scalar_t>();
      scalar_t* vmax = amsgrad ? max_exp_avg_sqs[i].data_ptr<scalar_t>() : nullptr;
      with_flags([&](auto max, auto decay, auto decoupled_, auto ams, auto low) {
        at::parallel_for(0, params[i].numel(), kGrain, [=](int64_t begin, int64_t end) {
          adam_range<scalar_t, max, decay, decoupled_, ams, low>(p, g, m, v, vmax, begin, end, o);
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
