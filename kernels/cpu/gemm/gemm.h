// A float32 GEMM written here, for the products of an MLP step:
//   C (M, N) = A (M, K) · B (K, N)   then, per element, the epilogue:
//   c = act(sum (+ bias[j]));  c = backprop(through_act, c, through[i, j]) where through is given
// with the activations that are a max or a compare-and-blend in registers: identity, ReLU, leaky ReLU
// (../../common/activation.h). The fused ops run tanh, sigmoid and GELU as a pass of ATen's vectorised
// kernels after the product instead (linear.cpp says why).
// A and B are strided views, so the three products of a linear layer are one call each:
//   forward  y  = x · Wᵀ    A = x (N, I),   B = Wᵀ: element (k, j) at W + j*I + k
//   dinput   dx = dz · W    A = dz (N, O),  B = W (O, I)
//   dweight  dW = dzᵀ · x   A = dzᵀ: element (i, k) at dz + k*O + i,  B = x (N, I)
//   the dx product of the whole step: dx · act'(s) of the layer below, with through = s (its output h,
//   or its pre-activation z for GELU), so dx comes back through that activation while in registers
// No torch headers here: gemm.cpp (blocking, threads, scalar kernel) and gemm_avx2.cpp (AVX2/FMA
// micro-kernels) build with plain C++ and OpenMP.
#pragma once
#include <cstdint>

#include "../../common/activation.h"

namespace minitorch_clf::gemm {

// Element (i, j) of a matrix at data[i * rs + j * cs].
struct View {
  const float* data;
  int64_t rs, cs;
};

struct Epilogue {
  const float* bias = nullptr;                    // (N,), added to every row
  Activation act = Activation::kIdentity;         // c = act(c), one of in_epilogue's
  Activation through_act = Activation::kIdentity; // c = c · through_act'(through[i, j]), one of in_epilogue's
  const float* through = nullptr;                 // (M, N), row stride through_ld
  int64_t through_ld = 0;
};

// The activations the epilogue applies (sgemm refuses the others).
constexpr bool in_epilogue(Activation a) {
  return a == Activation::kIdentity || a == Activation::kRelu || a == Activation::kLeakyRelu;
}

// Which instructions run the products: kAuto is the process default (set_default_isa), which starts as
// the widest the CPU has (asked at run time): AVX-512F, else AVX2/FMA, else the scalar loops.
enum class Isa { kAuto, kAvx512, kAvx2, kScalar };

bool cpu_has_avx2_fma();
bool cpu_has_avx512f();
Isa widest_isa();                       // of this CPU
Isa default_isa();                      // what kAuto means now
Isa set_default_isa(Isa isa);           // returns the previous; kAuto restores widest_isa()

// The caches the blocking is sized by: cpu0's L1 data cache and L2 as Linux reports them
// (/sys/devices/system/cpu/cpu0/cache), read once; MINITORCH_CLF_CACHE_KB="L1d,L2" (KiB) overrides
// them, and 32 KiB / 512 KiB stand in where neither says.
struct Caches {
  int64_t l1d, l2;   // bytes
};
Caches caches();

// The outer kernel's blocks for an mr x nr register tile (gemm_outer_block.h), from the caches:
//   k_block   a packed B panel (k_block x nr floats) takes half of L1d, leaving the other half to
//             the A micro-panel and C's tile streaming past (BLIS's rule for its k_c);
//   row_block a packed A block (row_block x k_block floats) takes half of L2; a multiple of mr.
// The dot kernel's row block: rows of A (k floats each) that fill half of L2, a multiple of mr.
struct Blocking {
  int64_t k_block, row_block;
};
Blocking outer_blocking(int64_t mr, int64_t nr, const Caches& c);
int64_t dot_row_block(int64_t mr, int64_t k, const Caches& c);

// C (M, N) row-major with row stride ldc; every element is written (C is not read).
// Deterministic: each element is summed in the same order whatever the number of threads.
void sgemm(int64_t M, int64_t N, int64_t K, View a, View b, float* c, int64_t ldc, const Epilogue& ep = {},
           Isa isa = Isa::kAuto);

}  // namespace minitorch_clf::gemm
