// torch.optim.Adam/AdamW's update of one element, shared by kernels/cpu/optimizer.cpp (flags as
// compile-time constants) and kernels/cuda/optimizer.cu (flags at run time). torch's per-tensor
// update, in its order (minitorch_clf/optim/adam.py derives it); the bias corrections come from the caller:
//   g = ±grad (+ wd · p, Adam's L2) ;  p = p · (1 - lr · wd) (AdamW's decoupled decay)
//   m = lerp(m, g, 1 - beta1);  v = beta2 · v + (1 - beta2) g²;  vmax = max(vmax, v) (AMSGrad)
//   p = p - step_size · m / (sqrt(v or vmax) / sqrt(1 - beta2^t) + eps),  step_size = lr / (1 - beta1^t)
#pragma once
#include <cstdint>

#include "hd.h"

namespace minitorch_clf {

template <typename T>
struct AdamScalars {
  T decay, wd, w1, b2, w2, eps, neg_step, bc2;
};

template <typename T>
MTC_HD AdamScalars<T> adam_scalars(double lr, double beta1, double beta2, double eps, double weight_decay,
                                   double step_size, double bias_correction2_sqrt) {
  return {static_cast<T>(1 - lr * weight_decay), static_cast<T>(weight_decay), static_cast<T>(1 - beta1),
          static_cast<T>(beta2), static_cast<T>(1 - beta2), static_cast<T>(eps), static_cast<T>(-step_size),
          static_cast<T>(bias_correction2_sqrt)};
}

// Element k of p, its gradient, exp_avg m, exp_avg_sq v and max_exp_avg_sq vmax (read with AMSGrad only).
// low_weight: 1 - beta1 < 0.5, which side torch's lerp computes from (exact at both ends).
template <typename T, typename Maximize, typename Decay, typename Decoupled, typename Amsgrad, typename LowWeight>
MTC_HD void adam_element(T* __restrict__ p, const T* __restrict__ grad, T* __restrict__ m, T* __restrict__ v,
                         T* __restrict__ vmax, int64_t k, const AdamScalars<T>& s, Maximize maximize, Decay decay,
                         Decoupled decoupled, Amsgrad amsgrad, LowWeight low_weight) {
  T g = maximize ? -grad[k] : grad[k];
  T w = p[k];
  if (decay && decoupled) w = w * s.decay;
  if (decay && !decoupled) g = g + s.wd * w;
  const T mk = low_weight ? m[k] + s.w1 * (g - m[k]) : g - (g - m[k]) * (T(1) - s.w1);
  const T vk = v[k] * s.b2 + s.w2 * g * g;
  m[k] = mk;
  v[k] = vk;
  T second = vk;
  if (amsgrad) second = vmax[k] = hd::max(vmax[k], vk);
  p[k] = w + s.neg_step * mk / (hd::sqrt(second) / s.bc2 + s.eps);
}

}  // namespace minitorch_clf
