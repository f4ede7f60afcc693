// torch.optim.SGD's update of one element, shared by kernels/cpu/optimizer.cpp (flags passed as
// compile-time constants, so each loop instance keeps no branch) and kernels/cuda/optimizer.cu (flags
// at run time). The operations are torch's per-tensor update, in its order (minitorch_clf/optim/sgd.py
// derives the algorithm):
//   g = ±grad (+ wd · p);  b = g at the first step, else mu · b + (1 - dampening) · g;
//   g = g + mu · b (Nesterov) or b;  p = p - lr · g
#pragma once
#include <cstdint>

#include "hd.h"

namespace minitorch_clf {

template <typename T>
struct SgdScalars {       // the hyper-parameters, in the element type
  T wd, mu, damp, neg_lr;
};

template <typename T>
MTC_HD SgdScalars<T> sgd_scalars(double lr, double momentum, double dampening, double weight_decay) {
  return {static_cast<T>(weight_decay), static_cast<T>(momentum), static_cast<T>(1 - dampening),
          static_cast<T>(-lr)};
}

// Element k of a parameter p, its gradient and its momentum buffer (unread without momentum).
template <typename T, typename Maximize, typename Decay, typename Momentum, typename First, typename Nesterov>
MTC_HD void sgd_element(T* __restrict__ p, const T* __restrict__ grad, T* __restrict__ buf, int64_t k,
                        const SgdScalars<T>& s, Maximize maximize, Decay decay, Momentum momentum, First first,
                        Nesterov nesterov) {
  T g = maximize ? -grad[k] : grad[k];
  if (decay) g = g + s.wd * p[k];
  if (momentum) {
    const T b = first ? g : buf[k] * s.mu + s.damp * g;      // first step: the buffer is g
    buf[k] = b;
    g = nesterov ? g + s.mu * b : b;
  }
  p[k] = p[k] + s.neg_lr * g;
}

}  // namespace minitorch_clf
