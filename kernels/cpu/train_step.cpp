// A whole SGD or Adam training step of an MLP in one call: forward (linear + bias + activation epilogues),
// softmax cross-entropy, backward and the optimizer's update, composed from this folder's kernels in C++. The
// arithmetic is the layer-by-layer fused step's, kernel for kernel, so the results are the same
// bits; what goes away is the Python between the ~10 op calls of a step (several hundred us on a
// 2-core CPU at batch 64, more than the GEMMs). One piece differs at a batch of one row: there each dW is an
// outer product, and the step has no dW product; its update makes each row of dW from dz and x itself
// (sgd_update_outer_cpu, adam_update_outer_cpu), the same values, so again the same bits.
// Its pieces are torch.profiler scopes ("step: fc1 forward", "step: cross-entropy", "step: fc3 backward",
// "step: sgd update" or "step: adam update"; linear.cpp's "backward: ..." inside the backward ones), so a
// trace of the one call still shows where its time goes; with no profiler running a scope costs one check.
// From 128 rows on (with a second thread, float32 products by gemm.h's GEMM, an activation of its epilogue) the
// layers after the first run cut by rows (layers_by_rows): each thread takes its rows of the batch through their
// forward, the loss and their dx products, then their dW and db follow as sums over all rows, as before.
// A weight's update runs inside its dW product (BlockUpdate, cpu_ops.h) where that product writes W between the
// threads as the update's pass would (rides_on_dweight): the product hands over each block of dW it finishes, and
// the update reads it there, while it is in that core's cache, instead of in a pass over dW after the backward; the
// other updates (the biases' among them) stay a pass. A layer's dx product, which reads W, runs before its dW
// product. On the 2-core Xeon of 2026-12-06 (SGD with momentum, shuffled turns in one process, the tuned plans) the
// epoch took 5-14% less time at batch 64 and 256, the step 1% less; at 128 and 1024 both level (at 1024 no update
// rides on these plans); with Adam the epoch at 64 5% less, the rest level (benchmarks/RESULTS.md, thirteenth
// session).
// The epoch op runs these steps in a loop and copies each batch in before its step on every thread, or, where the
// layers after the first run on one thread (their products' plans: SimpleNet's fc2 and fc3 at small batches), on
// the second thread while the step before runs them (epoch_of, run_beside). On the 2-core Xeon of 2026-12-06 the
// epoch at batch 64 took 8% less time so (the median of 14 pairs) (benchmarks/RESULTS.md, eleventh session).
//   L layers: weights[k] (O_k, I_k), biases[k] (O_k,); x (N, I_0); target (N,)
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <omp.h>
#include <torch/library.h>

#include <string>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../common/validate.h"
#include "cpu_ops.h"

namespace minitorch_clf {
namespace {

// A layer whose dW = dzᵀ · x is one outer product, left to the update (sgd_update_outer_cpu): dz (1, O), x (1, I).
struct OuterGrad {
  at::Tensor dz, x;
};

// Whether a layer's input x (N, I) and weight (O, I) make a dW the update can compute from dz and x with the
// bits the dW product stores: one row (N = 1, so each element is one product, no sum), float32 products by
// gemm.h's GEMM (the value sgd_update_outer_cpu reproduces), x's row and the weight contiguous. (Anything else
// takes the dW product, and the update's checks come before any parameter changes, as they did.)
bool outer_dweight(const at::Tensor& x, const at::Tensor& weight) {
  return x.size(0) == 1 && x.scalar_type() == at::kFloat && x.is_contiguous() && weight.is_contiguous() &&
         gemm::default_format() == gemm::Format::kFloat32 && use_own_gemm(x, weight.size(0), x.size(1), 1);
}

// The entries of xs (one per parameter, step_params' order) whose parameter has a stored gradient: at a batch of
// one the weights' are left to the outer-product updates.
template <typename List>
auto with_grad(const List& xs, const std::vector<at::Tensor>& grads) {
  std::vector<std::decay_t<decltype(xs[0])>> out;
  for (size_t i = 0; i < grads.size(); ++i)
    if (grads[i].defined()) out.push_back(xs[i]);
  return out;
}

// A step's own tensors (cpu_ops.h's TensorSource), kept for the next step: the n-th tensor a step asks for is the
// n-th of the step before where its shape and options match and nothing else holds it (its storage neither), else
// a new one takes its place. The steps of a run ask in the same order for the same shapes, so from the second
// step on a step makes no tensor but its loss. The tensors stay with the thread, as the GEMM's packing buffers do:
// a step's activations, gradients and products' outputs (at batch 64 about 0.5 MB, most of it fc1's dW).
// On the 2-core Xeon of 2026-12-06 (SimpleNet, SGD with momentum, the builds before and after in alternating
// processes on the same plans; benchmarks/RESULTS.md, sixteenth session) the step took 0.80x the time at batch 1
// and 0.82x at 8, at 64 0.93x in ten pairs (1.00x in five others), 0.96-0.99x at 256 and 1024; the epoch op
// 0.85x, 0.86x, 0.90-0.93x and 0.95x at 1, 8, 64 and 256.
class StepTensors final : public TensorSource {
 public:
  void restart() { next_ = 0; }
  at::Tensor empty(at::IntArrayRef sizes, const at::TensorOptions& options) override {
    if (next_ == kept_.size()) kept_.emplace_back();
    at::Tensor& t = kept_[next_++];
    const bool fits = t.defined() && t.use_count() == 1 && t.storage().use_count() == 1 && t.sizes() == sizes &&
                      t.dtype() == options.dtype() && t.device() == options.device();
    if (!fits) t = at::empty(sizes, options);
    return t;
  }

 private:
  std::vector<at::Tensor> kept_;
  size_t next_ = 0;
};

// Work a step may run on its second thread (the epoch's copy of the next batch, on one thread), and whether it did.
struct Side {
  std::function<void()> work;
  bool done = false;
};

// Whether the step's layers after the first run every product on one thread (gemm::plan_for; SimpleNet's fc2 and
// fc3 up to batch 32 on the derived plans, and at 64 on the tuner's on the 2-core Xeon), and a second thread is
// there: then that thread is idle from the end of fc1's forward to the start of fc1's backward. In bf16 too, whose
// products run on their plan's threads as float32's do: until 2026-12-07 only float32 ran the epoch's next gather
// beside them, and in turns on the 2-core Zen 4 (two runs) the bf16 epoch op took 0.93-0.97x the time at 64,
// 0.86-0.93x at 32 and 0.91-0.95x at 16 with it, the step level (benchmarks/RESULTS.md, thirtieth session).
bool inner_layers_on_one_thread(const at::Tensor& x, at::TensorList weights) {
  if (omp_in_parallel() || omp_get_max_threads() < 2) return false;
  for (size_t k = 1; k < weights.size(); ++k)
    if (linear_product_threads(x, x.size(0), weights[k], /*need_dx=*/true) != 1) return false;
  return true;
}

// work() on this thread, and side->work() at the same time on a second one (then side->done); an exception of
// either is thrown here once both are done. Inside the region work()'s passes and products run on its thread alone
// (at::parallel_for and gemm.cpp open no region inside one), as they do where their plans are one thread: the same
// bits. With no side (nullptr) just work(): the side work is left to the caller. Run in the middle of a step on
// every thread, the copy of 256 rows made the epoch at 256 11% slower (it evicted the batch fc1's dW reads next).
void run_beside(const std::function<void()>& work, Side* side) {
  if (!side) return work();
  RECORD_FUNCTION("step: inner layers, next batch gathered beside", c10::ArrayRef<const c10::IValue>{});   // on this thread
  std::exception_ptr errors[2];
#pragma omp parallel num_threads(2)
  {
    const int t = omp_get_thread_num();
    try {
      if (t == 0) {
        work();
      } else if (t == 1) {
        side->work();
        side->done = true;
      }
    } catch (...) {
      errors[t] = std::current_exception();
    }
  }
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

// Rows a thread takes at least in layers_by_rows. On the 2-core Xeon (2026-12-06, twelfth session; SimpleNet, the
// same plans, shuffled turns in one process and four pairs of processes alternating between builds), cut by rows
// against layer by layer: with 16 rows a thread (batch 32) the step 9% slower; with 32 (batch 64) the step level
// in one process and 0-17% slower in the pairs (median 4%), the epoch 2-6% faster in four comparisons of five;
// with 64 (batch 128) the step 3-12% and the epoch 3-17% faster; level at 256 and 1024.
constexpr int64_t kRowsPerThread = 64;

// Whether the layers after the first run cut by rows (layers_by_rows): a second thread is there, the batch has
// rows for both, the products (every forward and dx product of those layers) are gemm.h's GEMM in float32 or
// bf16 on AMX or vdpbf16ps (gemm::bf16_on_pairs: bf16 on the float32 kernels runs the plan of each call's own
// shape, whose K blocks a cut of the rows would change), and the activation is one of the GEMM's epilogue.
// bf16 on vdpbf16ps cut by rows against layer by layer (the 2-core Zen 4, 2026-12-07, in turns in one process,
// two runs): the step 1.1-1.7% faster at 256 and 1024, the epoch op level to 2% faster (benchmarks/RESULTS.md,
// thirtieth session).
bool by_rows(const at::Tensor& h1, at::TensorList weights, Activation act) {
  const int64_t N = h1.size(0);
  if (omp_in_parallel() || omp_get_max_threads() < 2 || N < 2 * kRowsPerThread || weights.size() < 2) return false;
  const bool format = gemm::default_format() == gemm::Format::kFloat32 || gemm::bf16_on_pairs();
  if (!format || !gemm::in_epilogue(act) || h1.scalar_type() != at::kFloat) return false;
  for (size_t k = 1; k < weights.size(); ++k) {                  // (a bad layer: the layered path names it)
    if (weights[k].dim() != 2 || weights[k].scalar_type() != at::kFloat) return false;
    const int64_t I = weights[k].size(1), O = weights[k].size(0);
    if (!use_own_gemm(h1, N, O, I) || !use_own_gemm(h1, N, I, O)) return false;
  }
  return true;
}

// Whether a weight's update may ride on its dW product (BlockUpdate): gemm.h's GEMM makes that product, and it writes
// W between the threads as the update's pass would (at::parallel_for over W's elements: one band of rows a thread,
// on as many threads as W has grains of kElementsPerThread), so that the next forward reads W where it always has.
// Cut otherwise the update moves W's lines to other cores: on the 2-core Xeon (2026-12-06, the derived plans), fc1's
// dW cut by columns at batch 256 made the step 9% slower with the update in it (benchmarks/RESULTS.md, thirteenth
// session).
bool rides_on_dweight(const at::Tensor& x, const at::Tensor& weight) {
  const int64_t N = x.size(0), O = weight.size(0), I = weight.size(1);
  if (!use_own_gemm(x, O, I, N)) return false;
  const gemm::View dzt{nullptr, 1, O};                            // the dW product's views (linear.cpp)
  const gemm::Cut cut = gemm::cut_of({O, I, N, gemm::layout_of(dzt), gemm::layout_of(as_view(x))});
  return cut.rows && cut.threads == gemm::pass_threads(weight.numel(), at::get_num_threads());
}

// The layers after the first, cut by rows of the batch: from the first layer's output h_1 (acts[1]) to dz_1, the
// gradient at that output through its activation. Every piece between them works row by row: row n of
// z_{k+1} = h_k W_kᵀ + b_k reads row n of h_k only, the loss's row n its logits only, row n of dz_{k-1} =
// (dz_k W_k) · act'(h_k) row n of dz_k and of h_k only. So each thread takes its own rows through all of them in
// one parallel region, and the rows of h_2 ... h_L, dz_L ... dz_1 a thread writes are the ones it reads next, in
// its own core's caches. (Run layer by layer, each product cut its own way between the threads, or all on one.)
// What sums over rows stays outside: the loss here, dW_k and db_k in the caller.
// The same bits as layer by layer: in float32 each product runs the plan of its whole shape (plan_for with the
// batch's rows), and a plan sums every element in the same order whatever rows it is given (gemm.h); in bf16 the
// kernel's K blocks are set by K alone (gemm::bf16_on_pairs), and no input here is paired ahead as B (View::fill:
// the dW products pair h_k themselves, the same pairs); cross_entropy_rows the same for any cut of the rows, and
// the loss adds the rows' losses in row order.
// acts: [x, h_1] in, [x, h_1, ..., h_L] out (h_L the logits); returns the loss and dz[k] (N, O_k), k = 0 .. L - 1.
std::pair<at::Tensor, std::vector<at::Tensor>> layers_by_rows(std::vector<at::Tensor>& acts, const at::Tensor& target,
                                                              at::TensorList weights, at::TensorList biases,
                                                              Activation act, TensorSource* source) {
  RECORD_FUNCTION("step: layers after the first, rows cut between the threads", c10::ArrayRef<const c10::IValue>{});
  const size_t L = weights.size();
  const int64_t N = acts[1].size(0);
  struct Layer {
    gemm::View wt, w;                          // Wᵀ (I, O) for the forward, W (O, I) for dx
    gemm::Plan forward, dx;
    gemm::Epilogue out;
    int64_t I, O;
  };
  std::vector<Layer> layers(L);
  std::vector<at::Tensor> dz(L), bias(L);
  for (size_t k = 1; k < L; ++k) {
    const at::Tensor& W = weights[k];
    check_linear(acts[k], W, biases[k]);       // every check of the layered path comes before any work
    Layer& l = layers[k];
    l.I = W.size(1);
    l.O = W.size(0);
    l.wt = as_view(W.t());
    l.w = as_view(W);
    const gemm::View rows_in{nullptr, l.I, 1}, rows_out{nullptr, l.O, 1};   // h_k, dz_k: contiguous rows
    l.forward = gemm::plan_for({N, l.O, l.I, gemm::layout_of(rows_in), gemm::layout_of(l.wt)}, gemm::Isa::kAuto);
    l.dx = gemm::plan_for({N, l.I, l.O, gemm::layout_of(rows_out), gemm::layout_of(l.w)}, gemm::Isa::kAuto);
    bias[k] = biases[k].contiguous();
    l.out.bias = bias[k].data_ptr<float>();
    l.out.act = k + 1 < L ? act : Activation::kIdentity;
    acts.push_back(source->empty({N, l.O}, acts[1].options()));
    dz[k - 1] = source->empty({N, l.I}, acts[1].options());
  }
  check_cross_entropy(acts[L], target);
  const int64_t C = acts[L].size(1);
  dz[L - 1] = source->empty({N, C}, acts[1].options());
  const at::Tensor y = target.contiguous();
  const int64_t counted = cross_entropy_counted(y.data_ptr<int64_t>(), N, C, kIgnoreIndex);
  std::vector<double> row_loss(static_cast<size_t>(N));
  const int T = static_cast<int>(std::min<int64_t>(omp_get_max_threads(), N / kRowsPerThread));
  const bool bf16 = gemm::default_format() == gemm::Format::kBf16;
  // A product of a thread's rows: the whole shape's plan in float32; in bf16, sgemm's own kernel (one thread here).
  const auto product = [bf16](int64_t M, int64_t N_, int64_t K, gemm::View a, gemm::View b, float* c, int64_t ldc,
                              const gemm::Epilogue& ep, const gemm::Plan& plan) {
    if (bf16) gemm::sgemm(M, N_, K, a, b, c, ldc, ep, gemm::Isa::kAuto);
    else gemm::sgemm_planned(M, N_, K, a, b, c, ldc, ep, plan);
  };
  std::exception_ptr error;
#pragma omp parallel num_threads(T)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const auto cut = [&](int i) { return i == nt ? N : (N * i / nt + 4) / 8 * 8; };   // whole 8-row tiles
    const int64_t r0 = cut(t), rows = cut(t + 1) - r0;
    const auto at_row = [r0](const at::Tensor& m) { return m.data_ptr<float>() + r0 * m.size(1); };
    try {
      for (size_t k = 1; k < L; ++k) {                 // h_{k+1} = act(h_k W_kᵀ + b_k), its rows
        const Layer& l = layers[k];
        product(rows, l.O, l.I, {at_row(acts[k]), l.I, 1}, l.wt, at_row(acts[k + 1]), l.O, l.out, l.forward);
      }
      cross_entropy_rows(acts[L].data_ptr<float>(), dz[L - 1].data_ptr<float>(), y.data_ptr<int64_t>(), r0,
                         r0 + rows, C, kIgnoreIndex, counted, row_loss.data());
      for (size_t k = L; k-- > 1;) {                   // dz_{k-1} = (dz_k W_k) · act'(h_k), its rows
        const Layer& l = layers[k];
        gemm::Epilogue through;
        through.through_act = act;
        through.through = at_row(acts[k]);
        through.through_ld = l.I;
        product(rows, l.I, l.O, {at_row(dz[k]), l.O, 1}, l.w, at_row(dz[k - 1]), l.I, through, l.dx);
      }
    } catch (...) {
#pragma omp critical
      error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  double total = 0;
  for (double r : row_loss) total += r;        // in row order, as cross_entropy_forward_backward_cpu adds them
  at::Tensor loss = at::empty({}, acts[1].options());        // returned by the step: a new tensor
  *loss.data_ptr<float>() = static_cast<float>(total / double(counted));
  return {loss, dz};
}

// The step's loss and the gradient of every parameter, in step_params' order (w0, b0, w1, b1, ...): the
// forward, the cross-entropy and the backward that every optimizer's step below shares. With `outer`, a
// weight whose dW is one outer product (outer_dweight: a batch of one) gets no dW: its grads entry stays
// undefined and outer[k] holds the dz and x it is made of. `side` runs on the second thread during the other
// layers' forward, the loss and their backward where those run on one thread (inner_layers_on_one_thread), and
// not at all otherwise (side->done says which). `updates`, one per weight: where updates[k] has a function and
// gemm.h's GEMM makes W_k's dW, the update rides on that product (BlockUpdate) and W_k's grads entry stays undefined.
std::pair<at::Tensor, std::vector<at::Tensor>> loss_and_grads(const at::Tensor& x, const at::Tensor& target,
                                                              at::TensorList weights, at::TensorList biases,
                                                              Activation act, std::vector<OuterGrad>* outer = nullptr,
                                                              Side* side = nullptr,
                                                              std::vector<BlockUpdate>* updates = nullptr) {
  const size_t L = weights.size();
  thread_local StepTensors tensors;            // the step's activations and gradients, kept for the next step
  tensors.restart();
  TensorSource* const source = &tensors;
  // h_0 = x, h_{k+1} = layer k's output; saved[k + 1] what act' reads of it (h_{k+1}, or z_{k+1} for GELU)
  std::vector<at::Tensor> acts{x}, saved{x};
  // bf16 products on AMX or vdpbf16ps: layer k's input, read by its forward (as A) and its dW (as B), is paired
  // as B by its forward where that pays (gemm.h's Bf16Pairs and pairs_pay; the same bits as pairing it in each
  // product). The buffers stay with the thread between steps.
  thread_local std::vector<gemm::Bf16Pairs> pairs;
  if (pairs.size() < L) pairs.resize(L);
  bool inner_paired = true;                    // false where layers_by_rows ran their forwards (they pair nothing)
  const auto pairs_of = [&](size_t k) -> gemm::Bf16Pairs* {
    if (k > 0 && !inner_paired) return nullptr;
    const at::Tensor& h = acts[k];
    const bool rows = h.dim() == 2 && h.scalar_type() == at::kFloat && h.stride(1) == 1;
    return rows && gemm::pairs_pay(h.size(0), h.size(1)) ? &pairs[k] : nullptr;
  };
  const auto forward = [&](size_t k) {
    RECORD_FUNCTION("step: fc" + std::to_string(k + 1) + " forward", c10::ArrayRef<const c10::IValue>{});
    auto [out, pre] = linear_forward_cpu(acts[k], weights[k], biases[k], k + 1 < L ? act : Activation::kIdentity,
                                         pairs_of(k), source);
    acts.push_back(out);
    saved.push_back(reads_pre(act) && k + 1 < L ? pre : out);
  };
  at::Tensor loss, dh;
  std::vector<at::Tensor> grads(2 * L);
  // dh reaches layer k already through layer k's activation: layer k + 1 applied act'(saved[k]) in the
  // epilogue of its dx product (`through`), where the values were still in registers.
  // need_dx false: layer k's dW and db only (its dx came from layers_by_rows).
  const auto backward = [&](size_t k, bool need_dx) {
    RECORD_FUNCTION("step: fc" + std::to_string(k + 1) + " backward", c10::ArrayRef<const c10::IValue>{});
    const bool left = outer && outer_dweight(acts[k], weights[k]);
    const bool rides = updates && (*updates)[k].fn && !left && rides_on_dweight(acts[k], weights[k]);
    auto [dx, dweight, dbias] = linear_backward_cpu(dh, acts[k], weights[k], acts[k + 1], Activation::kIdentity,
                                                    need_dx && k > 0, k > 0 ? act : Activation::kIdentity, saved[k],
                                                    pairs_of(k), /*need_dweight=*/!left,
                                                    rides ? (*updates)[k].done() : gemm::Done{}, source);
    if (left) {
      if (outer->size() < L) outer->resize(L);
      (*outer)[k] = {dh, acts[k]};             // dh is this layer's dz: its activation was applied above
    }
    if (!rides) grads[2 * k] = dweight;     // (riding: W_k is updated already)
    grads[2 * k + 1] = dbias;
    dh = dx;
  };
  forward(0);
  if (by_rows(acts[1], weights, act)) {
    std::vector<at::Tensor> dz;
    std::tie(loss, dz) = layers_by_rows(acts, target, weights, biases, act, source);
    inner_paired = false;
    saved = acts;                              // an activation of the epilogue: act' reads each layer's output
    for (size_t k = L; k-- > 1;) {             // the sums over rows: each layer's dW and db
      dh = dz[k];
      backward(k, /*need_dx=*/false);
    }
    dh = dz[0];
    backward(0, /*need_dx=*/true);
    return {loss, grads};
  }
  const auto inner = [&] {                     // everything between the first layer's forward and its backward
    for (size_t k = 1; k < L; ++k) forward(k);
    {
      RECORD_FUNCTION("step: cross-entropy", c10::ArrayRef<const c10::IValue>{});
      std::tie(loss, dh) = cross_entropy_forward_backward_cpu(acts[L], target, kIgnoreIndex, source);
    }
    for (size_t k = L; k-- > 1;) backward(k, /*need_dx=*/true);
  };
  run_beside(inner, side && inner_layers_on_one_thread(x, weights) ? side : nullptr);
  backward(0, /*need_dx=*/true);
  return {loss, grads};
}

// Whether a BlockUpdate can update the weight: a float32 matrix, contiguous, as its dW product's output is. (Whether
// the update then rides on that product, loss_and_grads decides: rides_on_dweight.)
bool block_updatable(const at::Tensor& weight) {
  return weight.scalar_type() == at::kFloat && weight.dim() == 2 && weight.is_contiguous();
}

// The whole SGD step; `side` as loss_and_grads takes it (the epoch's next gather).
at::Tensor sgd_step(const at::Tensor& x, const at::Tensor& target, at::TensorList weights, at::TensorList biases,
                    at::TensorList momentum_buffers, c10::string_view activation, double lr, double momentum,
                    double dampening, double weight_decay, bool nesterov, bool maximize, Side* side) {
  const Activation act = parse_activation(activation);
  const std::vector<at::Tensor> params = step_params(weights, biases);   // w0, b0, w1, b1, ...
  check_params(params);
  if (momentum != 0) check_lists("momentum_buffers", params, momentum_buffers);
  // At a batch of one, each dW is an outer product and the update computes it row by row (sgd_update_outer_cpu):
  // dW is never written and read back (fc1's: 400 KB stored, then read by the update). On the 2-core Xeon of
  // 2026-12-06 the step at batch 1 took 36-41 us instead of 73-84 (benchmarks/RESULTS.md, tenth session).
  std::vector<OuterGrad> outer;
  // Each weight's update, ready to ride on its dW product (BlockUpdate; loss_and_grads decides where). Every parameter
  // and buffer is checked above, before the first of them changes: a bad one stops the step before any update.
  std::vector<BlockUpdate> updates(weights.size());
  for (size_t k = 0; k < weights.size(); ++k)
    if (block_updatable(weights[k]))
      updates[k] = sgd_block_update(weights[k], momentum != 0 ? momentum_buffers[2 * k] : at::Tensor(), lr, momentum,
                                    dampening, weight_decay, nesterov, maximize, /*first_step=*/false);
  const auto [loss, grads] = loss_and_grads(x, target, weights, biases, act, &outer, side, &updates);
  RECORD_FUNCTION("step: sgd update", c10::ArrayRef<const c10::IValue>{});
  sgd_update_cpu(with_grad(params, grads), with_grad(grads, grads),
                 momentum != 0 ? with_grad(momentum_buffers, grads) : std::vector<at::Tensor>(), lr, momentum,
                 dampening, weight_decay, nesterov, maximize, /*first_step=*/false);
  for (size_t k = 0; k < outer.size(); ++k) {
    if (outer[k].dz.defined()) {
      sgd_update_outer_cpu(weights[k], outer[k].dz, outer[k].x, momentum != 0 ? momentum_buffers[2 * k] : at::Tensor(),
                           lr, momentum, dampening, weight_decay, nesterov, maximize, /*first_step=*/false);
    }
  }
  return loss;
}

// The same step with Adam's or AdamW's update (adam_update_'s). Step t = steps[i] + 1 of parameter i has the
// bias corrections optim/adam.py computes on the host, in the same double operations (Python's ** is C's
// pow, so (1 - beta2^t)^0.5 is pow(., 0.5) here, not sqrt): lr / (1 - beta1^t) and (1 - beta2^t)^0.5.
// The counts advance once the update is done (a bad target stops the step before anything changes).
at::Tensor adam_step(const at::Tensor& x, const at::Tensor& target, at::TensorList weights, at::TensorList biases,
                     at::TensorList steps, at::TensorList exp_avgs, at::TensorList exp_avg_sqs,
                     at::TensorList max_exp_avg_sqs, c10::string_view activation, double lr, double beta1, double beta2,
                     double eps, double weight_decay, bool decoupled, bool amsgrad, bool maximize, Side* side) {
  const Activation act = parse_activation(activation);
  const std::vector<at::Tensor> params = step_params(weights, biases);
  TORCH_CHECK(steps.size() == params.size(), "steps: expected ", params.size(), " step counts (one per param), got ",
              steps.size());
  std::vector<double> step_sizes, bias_correction2_sqrts;
  for (const at::Tensor& s : steps) {
    TORCH_CHECK(s.numel() == 1 && s.device().is_cpu() && at::isFloatingType(s.scalar_type()),
                "steps: expected a floating-point CPU scalar per param (optim.Adam's `step`), got ", s.scalar_type(),
                " ", s.sizes(), " on ", s.device());
    const double t = s.item<double>() + 1;
    step_sizes.push_back(lr / (1 - std::pow(beta1, t)));
    bias_correction2_sqrts.push_back(std::pow(1 - std::pow(beta2, t), 0.5));
  }
  check_adam_state(params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, amsgrad, step_sizes, bias_correction2_sqrts);
  std::vector<OuterGrad> outer;                // at a batch of one: no dW (sgd_step says why)
  std::vector<BlockUpdate> updates(weights.size());   // as in sgd_step
  for (size_t k = 0; k < weights.size(); ++k)
    if (block_updatable(weights[k]))
      updates[k] = adam_block_update(weights[k], exp_avgs[2 * k], exp_avg_sqs[2 * k],
                                     amsgrad ? max_exp_avg_sqs[2 * k] : at::Tensor(), step_sizes[2 * k],
                                     bias_correction2_sqrts[2 * k], lr, beta1, beta2, eps, weight_decay, decoupled,
                                     amsgrad, maximize);
  const auto [loss, grads] = loss_and_grads(x, target, weights, biases, act, &outer, side, &updates);
  RECORD_FUNCTION("step: adam update", c10::ArrayRef<const c10::IValue>{});
  adam_update_cpu(with_grad(params, grads), with_grad(grads, grads), with_grad(exp_avgs, grads),
                  with_grad(exp_avg_sqs, grads),
                  amsgrad ? with_grad(max_exp_avg_sqs, grads) : std::vector<at::Tensor>(),
                  with_grad(step_sizes, grads), with_grad(bias_correction2_sqrts, grads), lr, beta1, beta2, eps,
                  weight_decay, decoupled, amsgrad, maximize);
  for (size_t k = 0; k < outer.size(); ++k) {
    if (outer[k].dz.defined()) {
      adam_update_outer_cpu(weights[k], outer[k].dz, outer[k].x, exp_avgs[2 * k], exp_avg_sqs[2 * k],
                            amsgrad ? max_exp_avg_sqs[2 * k] : at::Tensor(), step_sizes[2 * k],
                            bias_correction2_sqrts[2 * k], lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad,
                            maximize);
    }
  }
  for (const at::Tensor& s : steps) s.add_(1);
  return loss;
}

// An epoch of steps in one call: step k trains with step(xb, yb, side) -> loss on the rows order[k B : (k + 1) B]
// of x and target, gathered into xb, yb as the Python loop over TensorLoader's batches gathers them (index_select);
// order may hold fewer indices than x has rows (the rest of an epoch). What goes away is the Python around each
// step (its checks, the gathers' dispatch, the op call). Each gather is plain row copies into one of two batch
// buffers: the next batch's by step k as its side work where it can (on its second thread, while the layers after
// the first run on one: loss_and_grads), else here before step k + 1, on every thread. Every index is checked
// before the first step. (x's rows are read as one contiguous array: copied once per call where they are not.)
template <typename Step>
at::Tensor epoch_of(const at::Tensor& x, const at::Tensor& target, const at::Tensor& order, int64_t batch_size,
                    bool drop_last, const Step& step) {
  TORCH_CHECK(batch_size >= 1, "batch_size: expected a positive int, got ", batch_size);
  TORCH_CHECK(x.dim() >= 2, "x: expected (n, ...) rows, got shape ", x.sizes());
  TORCH_CHECK(target.dim() == 1 && target.size(0) == x.size(0), "target: expected shape (", x.size(0), ",), got ",
              target.sizes());
  TORCH_CHECK(order.dim() == 1 && order.scalar_type() == at::kLong, "order: expected int64 row indices (k,), got ",
              order.scalar_type(), " ", order.sizes());
  const at::Tensor rows = x.reshape({x.size(0), -1}).contiguous(), labels = target.contiguous();
  const at::Tensor index = order.contiguous();
  const int64_t n = index.size(0), steps = drop_last ? n / batch_size : (n + batch_size - 1) / batch_size;
  if (n > 0) {
    const auto [lo, hi] = at::aminmax(index);
    TORCH_CHECK(lo.item<int64_t>() >= 0 && hi.item<int64_t>() < x.size(0), "order: expected row indices in [0, ",
                x.size(0), "), got ", lo.item<int64_t>() < 0 ? lo.item<int64_t>() : hi.item<int64_t>());
  }
  struct Batch {
    at::Tensor x, y;
  };
  const auto batch_of = [&](int64_t size) {
    return Batch{at::empty({size, rows.size(1)}, rows.options()), at::empty({size}, labels.options())};
  };
  // Two buffers for the full batches, taken in turns (step k reads one while the next gather fills the other),
  // and one for the last batch where it is short: made here, not on the thread that gathers.
  const int64_t last = steps > 0 ? std::min(n, steps * batch_size) - (steps - 1) * batch_size : 0;
  Batch full[2] = {batch_of(std::min(batch_size, n)), batch_of(std::min(batch_size, n))};
  Batch ragged = last != batch_size && steps > 0 ? batch_of(last) : Batch{};
  const auto buffer = [&](int64_t k) -> Batch& { return k == steps - 1 && ragged.x.defined() ? ragged : full[k % 2]; };
  const int64_t row_bytes = rows.size(1) * rows.element_size(), label_bytes = labels.element_size();
  // Batch k's rows copied in, on every thread (index_select's grain) or on this one alone.
  const auto gather = [&](int64_t k, bool all_threads) {
    Batch& b = buffer(k);
    const int64_t* idx = index.data_ptr<int64_t>() + k * batch_size;
    const auto* x_in = static_cast<const char*>(rows.data_ptr());
    const auto* y_in = static_cast<const char*>(labels.data_ptr());
    auto* x_out = static_cast<char*>(b.x.data_ptr());
    auto* y_out = static_cast<char*>(b.y.data_ptr());
    const auto copy = [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        std::memcpy(x_out + i * row_bytes, x_in + idx[i] * row_bytes, row_bytes);
        std::memcpy(y_out + i * label_bytes, y_in + idx[i] * label_bytes, label_bytes);
      }
    };
    if (all_threads) {
      at::parallel_for(0, b.x.size(0), gemm::rows_per_grain(rows.size(1)), copy);
    } else {
      copy(0, b.x.size(0));
    }
  };
  std::vector<at::Tensor> losses;
  losses.reserve(static_cast<size_t>(steps));
  bool ready = false;                          // whether batch k was gathered beside step k - 1
  for (int64_t k = 0; k < steps; ++k) {
    if (!ready) {
      RECORD_FUNCTION("epoch: next batch gathered", c10::ArrayRef<const c10::IValue>{});
      gather(k, true);
    }
    Side next{[&gather, k] { gather(k + 1, false); }};
    losses.push_back(step(buffer(k).x, buffer(k).y, k + 1 < steps ? &next : nullptr));
    ready = next.done;
  }
  return losses.empty() ? at::empty({0}, x.options()) : at::stack(losses);
}

at::Tensor mlp_sgd_epoch_cpu(const at::Tensor& x, const at::Tensor& target, const at::Tensor& order,
                             int64_t batch_size, bool drop_last, at::TensorList weights, at::TensorList biases,
                             at::TensorList momentum_buffers, c10::string_view activation, double lr, double momentum,
                             double dampening, double weight_decay, bool nesterov, bool maximize) {
  return epoch_of(x, target, order, batch_size, drop_last,
                  [&](const at::Tensor& xb, const at::Tensor& yb, Side* side) {
                    return sgd_step(xb, yb, weights, biases, momentum_buffers, activation, lr, momentum, dampening,
                                    weight_decay, nesterov, maximize, side);
                  });
}

at::Tensor mlp_adam_epoch_cpu(const at::Tensor& x, const at::Tensor& target, const at::Tensor& order,
                              int64_t batch_size, bool drop_last, at::TensorList weights, at::TensorList biases,
                              at::TensorList steps, at::TensorList exp_avgs, at::TensorList exp_avg_sqs,
                              at::TensorList max_exp_avg_sqs, c10::string_view activation, double lr, double beta1,
                              double beta2, double eps, double weight_decay, bool decoupled, bool amsgrad,
                              bool maximize) {
  return epoch_of(x, target, order, batch_size, drop_last,
                  [&](const at::Tensor& xb, const at::Tensor& yb, Side* side) {
                    return adam_step(xb, yb, weights, biases, steps, exp_avgs, exp_avg_sqs, max_exp_avg_sqs,
                                     activation, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize,
                                     side);
                  });
}

}  // namespace

// The ops: one step each (cpu_ops.h: direct_calls.cpp calls them too).
at::Tensor mlp_sgd_step_cpu(const at::Tensor& x, const at::Tensor& target, at::TensorList weights,
                            at::TensorList biases, at::TensorList momentum_buffers, c10::string_view activation,
                            double lr, double momentum, double dampening, double weight_decay, bool nesterov,
                            bool maximize) {
  return sgd_step(x, target, weights, biases, momentum_buffers, activation, lr, momentum, dampening, weight_decay,
                  nesterov, maximize, nullptr);
}

at::Tensor mlp_adam_step_cpu(const at::Tensor& x, const at::Tensor& target, at::TensorList weights,
                             at::TensorList biases, at::TensorList steps, at::TensorList exp_avgs,
                             at::TensorList exp_avg_sqs, at::TensorList max_exp_avg_sqs, c10::string_view activation,
                             double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                             bool amsgrad, bool maximize) {
  return adam_step(x, target, weights, biases, steps, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, activation, lr, beta1,
                   beta2, eps, weight_decay, decoupled, amsgrad, maximize, nullptr);
}

// Whether the step cuts the layers after the first by rows at this batch (by_rows): h1 (N, O_1), the layer's output.
// Their forward and dx products then run inside one parallel region, a thread each, where their plans' threads and
// cut do not apply; ops/tune.py leaves those two choices of theirs out of its races, which could not see them.
bool layers_cut_by_rows_cpu(const at::Tensor& h1, at::TensorList weights, c10::string_view activation) {
  return h1.dim() == 2 && by_rows(h1, weights, parse_activation(activation));
}

TORCH_LIBRARY_IMPL(minitorch_clf, CPU, m) {
  m.impl("layers_cut_by_rows", &layers_cut_by_rows_cpu);
  m.impl("mlp_sgd_step_", &mlp_sgd_step_cpu);
  m.impl("mlp_adam_step_", &mlp_adam_step_cpu);
  m.impl("mlp_sgd_epoch_", &mlp_sgd_epoch_cpu);
  m.impl("mlp_adam_epoch_", &mlp_adam_epoch_cpu);
}

}  // namespace minitorch_clf
