// What the headers of this folder share: functions callable from host code (kernels/cpu) and from
// device code (kernels/cuda, under nvcc), and float/double overloads of the C maths functions that
// resolve the same way in both (math.h's expf, erff, ... are declared for host and device alike).
#pragma once
#include <math.h>

#if defined(__CUDACC__)
#define MTC_HD __host__ __device__ __forceinline__
#else
#define MTC_HD inline
#endif

namespace minitorch_clf::hd {
MTC_HD float exp(float v) { return expf(v); }
MTC_HD double exp(double v) { return ::exp(v); }
MTC_HD float tanh(float v) { return tanhf(v); }
MTC_HD double tanh(double v) { return ::tanh(v); }
MTC_HD float erf(float v) { return erff(v); }
MTC_HD double erf(double v) { return ::erf(v); }
MTC_HD float sqrt(float v) { return sqrtf(v); }
MTC_HD double sqrt(double v) { return ::sqrt(v); }
template <typename T>
MTC_HD T max(T a, T b) { return a < b ? b : a; }   // std::max's rule: a where neither is larger
}  // namespace minitorch_clf::hd
