// The activations of the fused linear ops: one enum for the schema (where it is a string), the CPU
// GEMM's epilogue, the CPU element loops and the CUDA kernels. Plain C++, __host__ __device__ under
// nvcc, no torch headers: kernels/cpu and kernels/cuda include this one file. (The CPU ops run
// tanh, sigmoid and GELU with ATen's vectorised kernels instead of these scalar formulas:
// kernels/cpu/linear.cpp.)
//
//   forward    h = act(z),            z = x Wᵀ + b the pre-activation
//   backward   dz = dh · act'(s),     s = what the derivative reads: the output h, except for GELU,
//                                     whose derivative is a function of z alone (reads_pre)
//
// Each rule is minitorch_clf/functional.py's, derived there; element for element:
//   identity    h = z                                   act' = 1
//   relu        h = max(z, 0) (NaN kept)                dh · 1[h > 0]      (a select: 0, not 0 · dh)
//   leaky_relu  h = z if z > 0 else 0.01 z              1 if h > 0 else 0.01 (h > 0 exactly when z > 0)
//   tanh        h = tanh z                              1 - h²
//   sigmoid     h = 1 / (1 + e^-z)                      h (1 - h)
//   gelu        h = z Φ(z) = ½ z (1 + erf(z / √2))      Φ(z) + z φ(z),  φ(z) = e^(-z²/2) / √(2π)
//   gelu_tanh   h = ½ z (1 + t), t = tanh(√(2/π) (z + 0.044715 z³))
//                                                       ½ (1 + t) + ½ z (1 - t²) √(2/π) (1 + 3 · 0.044715 z²)
#pragma once
#include <cstdint>
#include <type_traits>

#include "hd.h"

namespace minitorch_clf {

enum class Activation : int { kIdentity, kRelu, kLeakyRelu, kTanh, kSigmoid, kGelu, kGeluTanh };
constexpr int kActivations = 7;
// As `train --activation` and functional.ACTIVATIONS spell them, in the enum's order.
constexpr const char* kActivationNames[kActivations] = {"identity", "relu",  "leaky_relu", "tanh",
                                                        "sigmoid",  "gelu", "gelu_tanh"};
constexpr double kLeakySlope = 0.01;   // torch's default negative_slope; the fused ops take no other

// True where act' is read from the pre-activation z (GELU), false where it is read from h.
MTC_HD constexpr bool reads_pre(Activation a) { return a == Activation::kGelu || a == Activation::kGeluTanh; }

// h = act(z)
template <Activation A, typename T>
MTC_HD T activate(T z) {
  constexpr T half = T(0.5), one = T(1);
  if constexpr (A == Activation::kRelu) return z < T(0) ? T(0) : z;
  else if constexpr (A == Activation::kLeakyRelu) return z > T(0) ? z : z * T(kLeakySlope);
  else if constexpr (A == Activation::kTanh) return hd::tanh(z);
  else if constexpr (A == Activation::kSigmoid) return one / (one + hd::exp(-z));
  else if constexpr (A == Activation::kGelu) return half * z * (one + hd::erf(z * T(0.70710678118654752440)));
  else if constexpr (A == Activation::kGeluTanh)
    return half * z * (one + hd::tanh(T(0.79788456080286535588) * (z + T(0.044715) * z * z * z)));
  else return z;
}

// dh · act'(s), s = h (or z where reads_pre(A)); ReLU's is a select, so a NaN or infinite dh where
// h <= 0 gives 0, as the mask it is.
template <Activation A, typename T>
MTC_HD T backprop(T dh, T s) {
  constexpr T half = T(0.5), one = T(1);
  if constexpr (A == Activation::kRelu) return s > T(0) ? dh : T(0);
  else if constexpr (A == Activation::kLeakyRelu) return s > T(0) ? dh : dh * T(kLeakySlope);
  else if constexpr (A == Activation::kTanh) return dh * (one - s * s);
  else if constexpr (A == Activation::kSigmoid) return dh * s * (one - s);
  else if constexpr (A == Activation::kGelu) {
    const T cdf = half * (one + hd::erf(s * T(0.70710678118654752440)));
    const T pdf = hd::exp(T(-0.5) * s * s) * T(0.39894228040143267794);
    return dh * (cdf + s * pdf);
  } else if constexpr (A == Activation::kGeluTanh) {
    const T t = hd::tanh(T(0.79788456080286535588) * (s + T(0.044715) * s * s * s));
    const T du = T(0.79788456080286535588) * (one + T(3 * 0.044715) * s * s);
    return dh * (half * (one + t) + half * s * (one - t * t) * du);
  } else return dh;
}

// f(std::integral_constant<Activation, a>{}): a run-time choice made a template argument, so element
// loops and kernels are instantiated per activation and keep no branch (host code: CPU loops, CUDA
// launchers).
template <typename F>
decltype(auto) with_activation(Activation a, F&& f) {
  switch (a) {
    case Activation::kRelu: return f(std::integral_constant<Activation, Activation::kRelu>{});
    case Activation::kLeakyRelu: return f(std::integral_constant<Activation, Activation::kLeakyRelu>{});
    case Activation::kTanh: return f(std::integral_constant<Activation, Activation::kTanh>{});
    case Activation::kSigmoid: return f(std::integral_constant<Activation, Activation::kSigmoid>{});
    case Activation::kGelu: return f(std::integral_constant<Activation, Activation::kGelu>{});
    case Activation::kGeluTanh: return f(std::integral_constant<Activation, Activation::kGeluTanh>{});
    default: return f(std::integral_constant<Activation, Activation::kIdentity>{});
  }
}

}  // namespace minitorch_clf
