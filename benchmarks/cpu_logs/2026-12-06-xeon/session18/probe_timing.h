// What this folder's C++ probes share: buffers on 64-byte lines (Aligned64: std::vector's own 16-byte alignment
// has half of the 64-byte loads straddle two lines), the best of several timed runs, and the peak's reference FMA
// chains (the kernels' fma_chains.h: 2 AVX-512 FMAs a cycle).
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <new>

#include "../../../../kernels/cpu/gemm/fma_chains.h"

template <class T>
struct Aligned64 {
  using value_type = T;
  Aligned64() = default;
  template <class U>
  Aligned64(const Aligned64<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
  void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t(64)); }
  bool operator==(const Aligned64&) const { return true; }
  bool operator!=(const Aligned64&) const { return false; }
};

template <class F>
double best(F f, int reps = 9) {
  double b = 1e9;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    b = std::min(b, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return b;
}

inline float chains(long n) { return minitorch_clf::fma_chains_avx512(n, 1e-3f); }
