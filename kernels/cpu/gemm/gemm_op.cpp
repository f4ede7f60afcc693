// The GEMM of gemm.h as the op own_mm (tests and benchmarks call it on any strided float32 matrices),
// and the switch that picks it or ATen's (MKL) for the products inside the fused CPU ops.
#include <ATen/ATen.h>
#include <c10/util/StringUtil.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "../../common/validate.h"
#include "../cpu_ops.h"
#include "gemm.h"
#include "gemm_kernels.h"

namespace minitorch_clf {
namespace {

std::atomic<GemmBackend> g_backend{GemmBackend::kAuto};

constexpr const char* kBackendNames[] = {"auto", "aten", "own"};
constexpr int64_t kThinLimit = 128;   // auto: gemm.h's GEMM when some size of the product is at most this

constexpr const char* kIsaNames[] = {"auto", "avx512", "avx2", "scalar"};   // in gemm::Isa's order
constexpr const char* kBf16KernelNames[] = {"auto", "amx", "avx512bf16", "fma"};   // in gemm::Bf16Kernel's

// The position of `name` in `names` (a switch's values in its enum's order), or -1.
template <size_t N>
int index_of(const char* const (&names)[N], c10::string_view name) {
  for (size_t i = 0; i < N; ++i)
    if (name == names[i]) return static_cast<int>(i);
  return -1;
}

gemm::Isa parse_isa(c10::string_view isa) {
  const int i = index_of(kIsaNames, isa);
  TORCH_CHECK(i >= 0, "isa: expected 'auto', 'avx512', 'avx2' or 'scalar', got '", std::string(isa), "'");
  const auto chosen = static_cast<gemm::Isa>(i);
  TORCH_CHECK(chosen != gemm::Isa::kAvx512 || gemm::cpu_has_avx512f(),
              "isa='avx512': this CPU has no AVX-512F/VL (use 'auto', 'avx2' or 'scalar')");
  TORCH_CHECK(chosen != gemm::Isa::kAvx2 || gemm::cpu_has_avx2_fma(),
              "isa='avx2': this CPU has no AVX2/FMA (use 'auto' or 'scalar')");
  return chosen;
}

// The ISA the GEMM's kAuto means from now on ('auto': the widest this CPU has); returns the previous.
std::string set_isa(c10::string_view name) {
  return kIsaNames[static_cast<int>(gemm::set_default_isa(parse_isa(name)))];
}

// The vector ISAs this CPU runs, widest first, then 'scalar'.
std::vector<std::string> cpu_isas() {
  std::vector<std::string> out;
  if (gemm::cpu_has_avx512f()) out.push_back("avx512");
  if (gemm::cpu_has_avx2_fma()) out.push_back("avx2");
  out.push_back("scalar");
  return out;
}

// [L1d bytes, L2 bytes, k_block, row_block]: the caches read and the outer kernel's blocks for an ISA
// ('auto': the current one; 'scalar' has no blocks: its two are 0).
std::vector<int64_t> gemm_blocking(c10::string_view isa) {
  gemm::Isa chosen = parse_isa(isa);
  if (chosen == gemm::Isa::kAuto) chosen = gemm::default_isa();
  const gemm::Caches c = gemm::caches();
  gemm::Blocking b{0, 0};
  if (chosen == gemm::Isa::kAvx512) b = gemm::outer_blocking(gemm::kOuter512MR, gemm::kOuter512NR, c);
  if (chosen == gemm::Isa::kAvx2) b = gemm::outer_blocking(gemm::kOuterMR, gemm::kOuterNR, c);
  return {c.l1d, c.l2, b.k_block, b.row_block};
}

// Plans and shapes cross the op boundary as ints (minitorch_clf/ops/tune.py names them):
//   shape [M, N, K, a layout, b layout]        layout 0 rows, 1 columns, 2 strided (gemm::Layout)
//   plan  [isa, kernel, k_block, threads, split]  isa as kIsaNames (1..3), kernel 0 dot 1 outer,
//                                                 split 0 columns first, 1 rows first, 2 depth
constexpr int64_t kShapeInts = 5, kPlanInts = 5;

gemm::Shape parse_shape(c10::IntArrayRef v) {
  TORCH_CHECK(v.size() == kShapeInts, "shape: expected [M, N, K, a layout, b layout], got ", v.size(), " ints");
  TORCH_CHECK(v[0] >= 0 && v[1] >= 0 && v[2] >= 0, "shape: expected sizes >= 0, got ", v);
  TORCH_CHECK(v[3] >= 0 && v[3] <= 2 && v[4] >= 0 && v[4] <= 2, "shape: layouts are 0 (rows), 1 (columns) or 2 (strided), got ", v);
  return {v[0], v[1], v[2], static_cast<gemm::Layout>(v[3]), static_cast<gemm::Layout>(v[4])};
}

gemm::Plan parse_plan(const gemm::Shape& shape, c10::IntArrayRef v) {
  TORCH_CHECK(v.size() == kPlanInts, "plan: expected [isa, kernel, k_block, threads, split], got ", v.size(), " ints");
  TORCH_CHECK(v[0] >= 1 && v[0] <= 3 && v[1] >= 0 && v[1] <= 1 && v[4] >= 0 && v[4] <= 2 && v[3] <= 4096,
              "plan: expected isa 1..3, kernel 0..1, threads <= 4096, split 0..2, got ", v);
  const gemm::Plan plan{static_cast<gemm::Isa>(v[0]), static_cast<gemm::Kernel>(v[1]), v[2], static_cast<int>(v[3]),
                        static_cast<gemm::Split>(v[4])};
  const char* error = gemm::plan_error(shape, plan);
  TORCH_CHECK(error == nullptr, "plan ", v, " for shape [", shape.M, ", ", shape.N, ", ", shape.K, "]: ", error ? error : "");
  return plan;
}

std::vector<int64_t> plan_ints(const gemm::Plan& p) {
  return {static_cast<int64_t>(p.isa), static_cast<int64_t>(p.kernel), p.k_block, p.threads,
          static_cast<int64_t>(p.split)};
}

// What a product of this shape runs now with isa ('auto': the tuned plan where one is set): the plan's
// ints, then 1 where it is a tuned one, 0 where derived.
std::vector<int64_t> gemm_plan(c10::IntArrayRef shape, c10::string_view isa) {
  bool tuned = false;
  std::vector<int64_t> out = plan_ints(gemm::plan_for(parse_shape(shape), parse_isa(isa), &tuned));
  out.push_back(tuned);
  return out;
}

// Replace the tuned plans by rows of [shape..., plan...] (empty: none); returns how many are set.
int64_t set_gemm_plans(c10::IntArrayRef rows) {
  constexpr int64_t width = kShapeInts + kPlanInts;
  TORCH_CHECK(rows.size() % width == 0, "rows: expected rows of ", width, " ints (shape, then plan), got ", rows.size());
  std::vector<std::pair<gemm::Shape, gemm::Plan>> plans;
  for (size_t r = 0; r < rows.size(); r += width) {
    const gemm::Shape shape = parse_shape(rows.slice(r, kShapeInts));
    plans.emplace_back(shape, parse_plan(shape, rows.slice(r + kShapeInts, kPlanInts)));
  }
  gemm::set_tuned_plans(plans);
  return static_cast<int64_t>(plans.size());
}

// a (M, K) and b (K, N), dense float32 matrices of any strides: own_mm's and own_mm_plan's operands.
void check_mm_operands(const at::Tensor& a, const at::Tensor& b) {
  check_dense("a", a);
  check_dense("b", b);
  TORCH_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(0), "a, b: expected (M, K) and (K, N), got ",
              a.sizes(), " and ", b.sizes());
  TORCH_CHECK(a.scalar_type() == at::kFloat && b.scalar_type() == at::kFloat, "a, b: expected float32, got ",
              a.scalar_type(), " and ", b.scalar_type());
}

}  // namespace

// a (M, K) · b (K, N) -> (M, N), float32, any strides (the op own_mm; direct_calls.cpp calls it too).
at::Tensor own_mm_cpu(const at::Tensor& a, const at::Tensor& b, c10::string_view isa) {
  check_mm_operands(a, b);
  return own_product(as_view(a), as_view(b), a.size(0), b.size(1), a.size(1), {}, a.options(), parse_isa(isa));
}

// a (M, K) · b (K, N) -> (M, N), float32, any strides, run with the given plan (the tuner and bench time them;
// the op own_mm_plan, and direct_calls.cpp).
at::Tensor own_mm_plan_cpu(const at::Tensor& a, const at::Tensor& b, c10::IntArrayRef plan_ints) {
  check_mm_operands(a, b);
  const gemm::View va = as_view(a), vb = as_view(b);
  const int64_t M = a.size(0), N = b.size(1), K = a.size(1);
  const gemm::Plan plan = parse_plan({M, N, K, gemm::layout_of(va), gemm::layout_of(vb)}, plan_ints);
  at::Tensor out = at::empty({M, N}, a.options());
  gemm::sgemm_planned(M, N, K, va, vb, out.data_ptr<float>(), N, {}, plan);
  return out;
}

namespace {

// The format of the GEMM's operands from now on ('float32' or 'bf16'); returns the previous one's name.
std::string set_precision(c10::string_view name) {
  TORCH_CHECK(name == "float32" || name == "bf16", "precision: expected 'float32' or 'bf16', got '", std::string(name), "'");
  const gemm::Format previous = gemm::set_default_format(name == "bf16" ? gemm::Format::kBf16 : gemm::Format::kFloat32);
  return previous == gemm::Format::kBf16 ? "bf16" : "float32";
}


// The bf16 kernels this CPU runs, the one 'auto' takes first.
std::vector<std::string> bf16_kernels() {
  std::vector<std::string> out;
  for (const gemm::Bf16Kernel k : gemm::kBf16Kernels)
    if (gemm::cpu_runs(k)) out.push_back(kBf16KernelNames[static_cast<int>(k)]);
  return out;
}

// The kernel of the bf16 products from now on; returns the previous setting's name.
std::string set_bf16_kernel(c10::string_view name) {
  const int i = index_of(kBf16KernelNames, name);
  TORCH_CHECK(i >= 0, "bf16_kernel: expected 'auto', 'amx', 'avx512bf16' or 'fma', got '", std::string(name), "'");
  const auto k = static_cast<gemm::Bf16Kernel>(i);
  TORCH_CHECK(gemm::cpu_runs(k), "bf16_kernel: this CPU cannot run '", std::string(name), "' (it runs ",
              c10::Join(", ", bf16_kernels()), ")");
  return kBf16KernelNames[static_cast<int>(gemm::set_bf16_kernel(k))];
}

// Sets the backend by name and returns the previous one's.
std::string set_gemm(c10::string_view name) {
  const int i = index_of(kBackendNames, name);
  TORCH_CHECK(i >= 0, "gemm: expected 'auto', 'aten' or 'own', got '", std::string(name), "'");
  return kBackendNames[static_cast<int>(g_backend.exchange(static_cast<GemmBackend>(i)))];
}

at::Tensor product(const at::Tensor& a, const at::Tensor& b, bool own) {   // a (M, K) · b (K, N)
  return own ? own_product(as_view(a), as_view(b), a.size(0), b.size(1), a.size(1), {}, a.options()) : at::mm(a, b);
}

}  // namespace

// The products of an MLP training step, back to back as the fused step runs them, with the GEMM
// named by gemm ('own' or 'aten'); for benchmarks and their parity test. Layer k: acts[k] (N, I_k) its
// input, weights[k] (O_k, I_k), dzs[k] (N, O_k) its output gradient. For SimpleNet these are the
// eight products of a step: 3 forward, 3 dweight, 2 dinput (the data needs none).
// Returns [y_k = acts[k]·W_kᵀ for each k] + [dW_k = dz_kᵀ·acts[k] for each k] + [dx_k = dz_k·W_k, k >= 1].
std::vector<at::Tensor> mlp_products(at::TensorList acts, at::TensorList weights, at::TensorList dzs,
                                     c10::string_view gemm) {
  TORCH_CHECK(gemm == "own" || gemm == "aten", "gemm: expected 'own' or 'aten', got '", std::string(gemm), "'");
  const size_t L = weights.size();
  TORCH_CHECK(acts.size() == L && dzs.size() == L, "acts, weights, dzs: expected one of each per layer, got ",
              acts.size(), ", ", L, ", ", dzs.size());
  for (size_t k = 0; k < L; ++k) {
    TORCH_CHECK(acts[k].scalar_type() == at::kFloat && weights[k].scalar_type() == at::kFloat &&
                    dzs[k].scalar_type() == at::kFloat, "layer ", k, ": expected float32 tensors");
    check_linear_backward(dzs[k], acts[k], weights[k], dzs[k]);    // acts (N, I), weights (O, I), dzs (N, O)
  }
  const bool own = gemm == "own";
  std::vector<at::Tensor> out;
  for (size_t k = 0; k < L; ++k) out.push_back(product(acts[k], weights[k].t(), own));
  for (size_t k = 0; k < L; ++k) out.push_back(product(dzs[k].t(), acts[k], own));
  for (size_t k = 1; k < L; ++k) out.push_back(product(dzs[k], weights[k], own));
  return out;
}

gemm::View as_view(const at::Tensor& t) { return {t.data_ptr<float>(), t.stride(0), t.stride(1)}; }

bool use_own_gemm(const at::Tensor& t, int64_t M, int64_t N, int64_t K) {
  if (t.scalar_type() != at::kFloat) return false;            // the GEMM written here is float32 only
  if (gemm::default_format() == gemm::Format::kBf16) return true;   // ATen's would not round to bf16
  switch (g_backend.load(std::memory_order_relaxed)) {
    case GemmBackend::kOwn: return true;
    case GemmBackend::kAten: return false;
    default: return gemm::cpu_has_avx2_fma() && std::min({M, N, K}) <= kThinLimit;
  }
}

at::Tensor own_product(gemm::View a, gemm::View b, int64_t M, int64_t N, int64_t K, const gemm::Epilogue& ep,
                       const at::TensorOptions& options, gemm::Isa isa, TensorSource* source) {
  TORCH_CHECK(gemm::in_epilogue(ep.act) && gemm::in_epilogue(ep.through_act),
              "own_product: the GEMM's epilogue applies identity, relu and leaky_relu only");
  at::Tensor out = empty_from(source, {M, N}, options.dtype(at::kFloat));
  gemm::sgemm(M, N, K, a, b, out.data_ptr<float>(), N, ep, isa);
  return out;
}

// A process-wide setting, not a tensor op: one kernel for every device.
TORCH_LIBRARY_IMPL(minitorch_clf, CompositeExplicitAutograd, m) {
  m.impl("set_gemm", &set_gemm);
  m.impl("set_isa", &set_isa);
  m.impl("cpu_isas", &cpu_isas);
  m.impl("gemm_blocking", &gemm_blocking);
  m.impl("gemm_plan", &gemm_plan);
  m.impl("set_gemm_plans", &set_gemm_plans);
  m.impl("tuned_plans_on", &gemm::set_tuned_plans_on);
  m.impl("set_precision", &set_precision);
  m.impl("set_bf16_kernel", &set_bf16_kernel);
  m.impl("bf16_kernels", &bf16_kernels);
}

TORCH_LIBRARY_IMPL(minitorch_clf, CPU, m) {
  m.impl("own_mm", &own_mm_cpu);
  m.impl("own_mm_plan", &own_mm_plan_cpu);
  m.impl("mlp_products", &mlp_products);
}

}  // namespace minitorch_clf
