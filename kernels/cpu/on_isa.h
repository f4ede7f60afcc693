// on_isa(f): f() with every loop it calls compiled for the instruction set the GEMM runs
// (gemm::default_isa: the widest this CPU has, unless set_isa / MINITORCH_CLF_ISA chose another), so
// the element loops around the products (bias passes, activation derivatives, optimizer updates) run
// on the same ISA as the products and switch with them.
//
// How: each run_* below is built for its instruction set, and `flatten` inlines everything f calls
// into it, so the loops are vectorised with that ISA's registers - 16 floats a zmm, 8 a ymm, 4 an xmm
// (the baseline x86-64 every build assumes). The library's other code is built for that baseline.
// -ffp-contract=off (ops/build.py) keeps FMAs out, and every lane does the scalar loop's operations in
// its order: the three give the same bits (tests/test_gemm.py holds them to it).
#pragma once
#include "gemm/gemm.h"

namespace minitorch_clf {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
template <typename F>
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq"), flatten)) void run_avx512(F& f) { f(); }
template <typename F>
__attribute__((target("avx2"), flatten)) void run_avx2(F& f) { f(); }
#endif
template <typename F>
__attribute__((flatten)) void run_baseline(F& f) { f(); }

template <typename F>
void on_isa(F&& f) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  switch (gemm::default_isa()) {
    case gemm::Isa::kAvx512: return run_avx512(f);
    case gemm::Isa::kAvx2: return run_avx2(f);
    default: break;
  }
#endif
  run_baseline(f);
}

}  // namespace minitorch_clf
