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
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "../../common/activation.h"
#include "line_vector.h"

namespace minitorch_clf::gemm {

class Bf16Pairs;

// Element (i, j) of a matrix at data[i * rs + j * cs].
// pairs: optional, read by the bf16 products on AMX and vdpbf16ps only (every other kernel reads data): the
// operand as B rounded to bf16 and paired along the product's k (its rows) ahead of the call, pair (q, j) =
// (b[2q][j], b[2q + 1][j]) in panels of 32 columns at pairs[j / 32 * pairs_ld + 32 q + j % 32] (both kernels'
// packed panels, of the whole K).
// fill: optional, on A: where the AMX or vdpbf16ps kernel, packing this operand as A, also writes its pairs as B
// (Bf16Pairs).
struct View {
  const float* data;
  int64_t rs, cs;
  const uint32_t* pairs = nullptr;
  int64_t pairs_ld = 0;
  Bf16Pairs* fill = nullptr;
};

// A block of C that is finished: rows [i0, i1), columns [j0, j1), each element stored with the rest of the
// epilogue applied. Handed to Epilogue::done, where set, on the thread that stored it and right after: the
// outer kernel hands over each panel of a row block (at most a row block x 32 columns, still in that core's
// L1), the K-split plans and a bf16 product cut by depth (gemm.cpp's bf16_depth) each row, the other kernels each
// thread's share. The blocks cover C once, none overlapping. The whole SGD or Adam step updates W there from dW,
// where the product writes W between the threads as the update's pass would (train_step.cpp), so dW is read while
// in cache, not in a pass of its own.
// fn gets C itself (element (i, j) at c[i * ldc + j]).
struct Done {
  void (*fn)(void* ctx, const float* c, int64_t ldc, int64_t i0, int64_t i1, int64_t j0, int64_t j1) = nullptr;
  void* ctx = nullptr;
  void operator()(const float* c, int64_t ldc, int64_t i0, int64_t i1, int64_t j0, int64_t j1) const {
    if (fn) fn(ctx, c, ldc, i0, i1, j0, j1);
  }
};

struct Epilogue {
  const float* bias = nullptr;                    // (N,), added to every row
  Activation act = Activation::kIdentity;         // c = act(c), one of in_epilogue's
  Activation through_act = Activation::kIdentity; // c = c · through_act'(through[i, j]), one of in_epilogue's
  const float* through = nullptr;                 // (M, N), row stride through_ld
  int64_t through_ld = 0;
  Done done;                                      // each finished block of C, as above
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
bool cpu_has_avx512bf16();
Isa widest_isa();                       // of this CPU
Isa default_isa();                      // what kAuto means now
Isa set_default_isa(Isa isa);           // returns the previous setting (kAuto: none forced)

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

// The element passes around the products (bias and activation, the optimizer's update) run an array of n
// elements on min(threads, ceil(n / kElementsPerThread)) threads, in contiguous ranges (at::parallel_for's
// grain): below it a parallel region costs more than the pass. derived_plan follows them (gemm.cpp).
constexpr int64_t kElementsPerThread = 32768;
// The threads such a pass runs an array of n elements on, of `most`: min(most, ceil(n / kElementsPerThread)), at
// least one. (derived_plan sizes a product's threads by it; the whole step asks it where an update rides.)
constexpr int pass_threads(int64_t n, int most) {
  return static_cast<int>(std::clamp<int64_t>((n + kElementsPerThread - 1) / kElementsPerThread, 1, most));
}
// The same grain for a pass over rows of `width` elements each: the rows in one thread's range at least.
constexpr int64_t rows_per_grain(int64_t width) {
  return std::max<int64_t>(1, kElementsPerThread / std::max<int64_t>(width, 1));
}

// How one product runs: the choices sgemm makes for it. derived_plan makes them by rules from the
// caches and measurements on one CPU (gemm.cpp); a tuned plan is what minitorch_clf/ops/tune.py timed
// fastest for that product's shape on this CPU, installed with set_tuned_plans.
enum class Kernel { kDot, kOuter };                // dot: needs a.cs == 1 and b.rs == 1
// How the work is cut between threads: C along N first (kColumnsFirst) or along M first (kRowsFirst), each
// thread its rectangle (gemm.cpp's share); or K (kDepth): `threads` ranges of k, each summed by one thread
// into its own copy of C, then added in range order (gemm.cpp's depth).
enum class Split { kColumnsFirst, kRowsFirst, kDepth };
struct Plan {
  Isa isa;            // kAvx512, kAvx2 or kScalar
  Kernel kernel;
  int64_t k_block;    // outer kernel: k per packed panel; the rows of a packed A block follow from it
  int threads;        // at most; fewer where the process has fewer, one inside a parallel region
  Split split;
};

// The part of an operand's strides a plan depends on: contiguous along its second index (cs == 1),
// else along its first (rs == 1), else neither.
enum class Layout { kRows, kColumns, kStrided };
inline Layout layout_of(const View& v) { return v.cs == 1 ? Layout::kRows : v.rs == 1 ? Layout::kColumns : Layout::kStrided; }
struct Shape {
  int64_t M, N, K;
  Layout a, b;
  bool operator==(const Shape& o) const { return M == o.M && N == o.N && K == o.K && a == o.a && b == o.b; }
};

// The rules' plan for a shape on an ISA (kAuto: default_isa()).
Plan derived_plan(const Shape& s, Isa isa);
// Why a plan cannot run a shape on this CPU, or nullptr where it can.
const char* plan_error(const Shape& s, const Plan& plan);
// Replace the tuned plans (an empty list removes them). Each must pass plan_error; the table is
// read by every sgemm call of kAuto while no ISA is forced (set_default_isa(kAuto)).
void set_tuned_plans(const std::vector<std::pair<Shape, Plan>>& plans);
// Whether the tuned plans are consulted (on at first; benchmarks time the derived ones beside them).
bool set_tuned_plans_on(bool on);   // returns the previous setting
// What sgemm(isa) runs for a shape: the tuned plan where isa is kAuto, no ISA is forced and one is
// set for the shape (and they are on); the derived plan otherwise. *tuned says which.
Plan plan_for(const Shape& s, Isa isa, bool* tuned = nullptr);

// How sgemm(kAuto) shares C (M, N) out between threads for a shape now (the plan and format in force; one thread
// inside a parallel region): the threads it runs on, and whether each writes a band of whole rows (a rows-first cut,
// the K-split plans' sum, or one thread) rather than of columns. The whole step lets a weight's update ride on its
// dW product only where that product writes W as the update's pass would (train_step.cpp).
struct Cut {
  int threads;
  bool rows;
};
Cut cut_of(const Shape& s);

// The format the products read their operands in: float32, or bfloat16 (each operand rounded to the
// nearest bf16, the sums float32: functional.round_to's semantics) on AVX512-BF16 (gemm_bf16.cpp) or
// AMX tiles (gemm_amx.cpp).
// A process-wide setting, as the ISA is; under kBf16 every sgemm call of kAuto runs the bf16 kernel
// (with its plan's threads and split); a call that names an ISA stays float32.
enum class Format { kFloat32, kBf16 };
Format default_format();
Format set_default_format(Format f);    // returns the previous

// Which kernel computes the bf16 products: AMX tiles (gemm_amx.cpp) where the CPU has AMX-BF16 and Linux
// grants the tile state, vdpbf16ps (gemm_bf16.cpp) where it has AVX512-BF16, and on any CPU kFma: each
// operand rounded to bf16 into a float32 copy, then the float32 GEMM (a product of two bf16 values is
// exact in float32, so it sums the same products). The same sums, added in other orders.
// kAuto takes the first of AMX, vdpbf16ps, kFma the CPU runs.
enum class Bf16Kernel { kAuto, kAmx, kDpbf16, kFma };
constexpr Bf16Kernel kBf16Kernels[] = {Bf16Kernel::kAmx, Bf16Kernel::kDpbf16, Bf16Kernel::kFma};   // kAuto's order
bool cpu_has_amx_bf16();                       // asks Linux for the tile state once (arch_prctl)
bool cpu_runs(Bf16Kernel k);                   // kAuto and kFma: any CPU
Bf16Kernel set_bf16_kernel(Bf16Kernel k);      // returns the previous setting
Bf16Kernel bf16_kernel();                      // what runs now: the one set where the CPU runs it, else kAuto's
// Whether the products are bf16 on AMX or vdpbf16ps now: kernels that pair their operands (View::pairs) and sum
// each element over K blocks that K alone sets, whatever rows a call gets (kFma runs the plan of each call's shape).
bool bf16_on_pairs();

// A layer's input, read by two bf16 products, rounded and paired once. x (N, I) is A of its forward x·Wᵀ
// (k along x's rows) and B of its dW = dzᵀ·x (k along its columns); the bf16 kernels pack each pairing
// from the float32 x on every call, reading x twice a step, and the fused step's x at batch 1024 (3.2 MB)
// comes from L3. Given as_a(), the forward's kernel (AMX or vdpbf16ps), which packs x's rows two at a time,
// writes their pairs as B too, zero-padded to whole AMX tiles (columns to 32, pairs to 16), in the panels of
// both kernels' packing; the dW then reads its panels from them (as_b) without packing, and x is read once.
// The same sums in the same order as packing per call: the same bits. (B's pairs as rows of the whole matrix,
// tiles loaded 3,200 bytes apart, made fc1's dW slower than packing it per call: hence the panels.)
class Bf16Pairs {
 public:
  // x (rows, cols) with row stride ld, contiguous along its rows, as A of a product: sgemm pairs it as B
  // on the way where the product runs on AMX.
  View as_a(const float* x, int64_t rows, int64_t cols, int64_t ld);
  // x as B: its pairs once a product of as_a() ran on AMX, else x itself (packed per call: the same bits).
  View as_b() const;

  // For the AMX kernel: where pair (q, j) goes (View::pairs' layout), and that all of them are written.
  uint32_t* out() { return pairs_.data(); }
  int64_t out_ld() const { return pairs_ld_; }
  int64_t padded_cols() const { return padded_cols_; }
  void mark_filled() { filled_ = true; }

 private:
  const float* x_ = nullptr;
  int64_t ld_ = 0, pairs_ld_ = 0, padded_cols_ = 0;
  bool filled_ = false;
  LineVector<uint32_t> pairs_;    // kept between calls: a fresh 1.6 MB faults page by page
};
// Whether pairing a (rows, cols) matrix ahead pays: sgemm(kAuto) reads View::pairs now (bf16 products on
// AMX or vdpbf16ps), and the matrix has at least kPairsMinRows rows and more than kPairsMinBytes as float32.
// On vdpbf16ps (the 2-core Zen 4, 2026-12-07, in turns in one process, three runs), with the forward's Wᵀ paired
// once for both threads as on AMX, the bf16 step took 3-4% less time at 1024 in two runs (1% more in the third,
// a process slow throughout) and 5-9% less at 256, the epoch op 2-8% and 6-17% less (RESULTS.md, twenty-ninth
// session). On AMX, until the fifteenth session (2026-12-06) the rule was "larger than L2": measured with the
// pairs 16 bytes off their cache line, pairing x at 64-512 rows had been level or 2-12% slower (RESULTS.md,
// 2026-12-05). With the pairs on a line (line_vector.h), on the 2-core Xeon, in turns in one process over three
// runs, pairing every input past 64 KiB made the bf16 epoch op 4-9% faster at 256 and 512 rows and the step 4-9%
// in all but one of those comparisons, both 1-5% at 1024 (there the hidden layers' inputs too); at 64 and 128 the
// differences stayed within the method's +-5%.
constexpr int64_t kPairsMinRows = 256, kPairsMinBytes = int64_t{64} << 10;
bool pairs_pay(int64_t rows, int64_t cols);

// C (M, N) row-major with row stride ldc; every element is written (C is not read).
// Deterministic: for a given plan, each element is summed in the same order whatever the number of
// threads (the plan's kernel, ISA and k_block set that order).
void sgemm(int64_t M, int64_t N, int64_t K, View a, View b, float* c, int64_t ldc, const Epilogue& ep = {},
           Isa isa = Isa::kAuto);
void sgemm_planned(int64_t M, int64_t N, int64_t K, View a, View b, float* c, int64_t ldc, const Epilogue& ep,
                   const Plan& plan);

}  // namespace minitorch_clf::gemm
