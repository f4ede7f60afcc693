// The CPU kernels of the minitorch_clf ops, callable from C++ (train_step.cpp composes them).
//   N = batch, I = in_features, O = out_features, C = classes
#pragma once
#include <ATen/ATen.h>

#include <tuple>
#include <vector>

#include "../common/adam_update.h"
#include "../common/sgd_update.h"
#include "gemm/gemm.h"

namespace minitorch_clf {

// Which GEMM the fused ops use for a float32 product (M, K)·(K, N), set by set_gemm or
// MINITORCH_CLF_GEMM: ATen's (MKL), the one in gemm.h, or auto. Auto takes gemm.h's where the CPU
// has AVX2/FMA and the product is thin (min(M, N, K) <= 128, every product of an MLP step at these
// widths), ATen's otherwise: MKL's packed blocking wins once all three sizes are large
// (benchmarks/RESULTS.md has the measurements).
enum class GemmBackend { kAuto, kAten, kOwn };
bool use_own_gemm(const at::Tensor& t, int64_t M, int64_t N, int64_t K);
gemm::View as_view(const at::Tensor& t);   // a 2-D float32 tensor as the GEMM's strided view

// Where the functions below get the tensors they make: new ones from at::empty (source nullptr: the ops), or a
// whole step's own (train_step.cpp's StepTensors), which keeps them for the next step of the same shapes. A step
// makes about twenty (activations, gradients, the products' outputs) and returns none of them but its loss. Inside
// the step at batch 64 on the 2-core Xeon of 2026-12-06, the cross-entropy's two at::empty took 2.4 us and its
// kernel 1.4 us (benchmarks/RESULTS.md, sixteenth session).
class TensorSource {
 public:
  virtual ~TensorSource() = default;
  virtual at::Tensor empty(at::IntArrayRef sizes, const at::TensorOptions& options) = 0;
};
inline at::Tensor empty_from(TensorSource* source, at::IntArrayRef sizes, const at::TensorOptions& options) {
  return source ? source->empty(sizes, options) : at::empty(sizes, options);
}

// An (M, N) float32 tensor = a (M, K) · b (K, N) with the epilogue, by gemm.h's GEMM.
at::Tensor own_product(gemm::View a, gemm::View b, int64_t M, int64_t N, int64_t K, const gemm::Epilogue& ep,
                       const at::TensorOptions& options, gemm::Isa isa = gemm::Isa::kAuto,
                       TensorSource* source = nullptr);

// (out (N, O) = act(x Wᵀ + b), pre (N, O) = x Wᵀ + b where reads_pre(act), else an empty tensor)
// x_pairs: where the product, on AMX, pairs x for the dW product of the same x (gemm.h's Bf16Pairs; the
// whole-step kernel passes them to a layer's forward and then its backward), or nullptr. source: as above.
std::tuple<at::Tensor, at::Tensor> linear_forward_cpu(const at::Tensor& x, const at::Tensor& weight,
                                                      const at::Tensor& bias, Activation act,
                                                      gemm::Bf16Pairs* x_pairs = nullptr,
                                                      TensorSource* source = nullptr);

// (dx (N, I) or an empty tensor, dweight, dbias) from dout (N, O) and saved (N, O): the forward's
// output, or its pre-activation where reads_pre(act).
// through_act, through: dx comes back through the activation of the layer below, dx · act'(through)
// (through = that layer's saved, shaped as x), fused into the dx product's epilogue (the whole-step
// kernel uses it; the op does not); x_pairs: the ones the forward of x was given, or nullptr; need_dweight:
// false leaves dweight undefined (the whole step at batch 1 updates W from dz and x: sgd_update_outer_cpu);
// dweight_done: handed each finished block of dW (gemm.h's Done: the whole step's BlockUpdate), only where gemm.h's
// GEMM makes dW (use_own_gemm); then the dx product, which reads W, runs before the dW product. source: as above.
std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_backward_cpu(const at::Tensor& dout, const at::Tensor& x,
                                                                   const at::Tensor& weight, const at::Tensor& saved,
                                                                   Activation act, bool need_dx,
                                                                   Activation through_act = Activation::kIdentity,
                                                                   const at::Tensor& through = {},
                                                                   const gemm::Bf16Pairs* x_pairs = nullptr,
                                                                   bool need_dweight = true,
                                                                   gemm::Done dweight_done = {},
                                                                   TensorSource* source = nullptr);

// The most threads a product of a linear layer runs on (its forward, its dW and, with need_dx, its dx) at batch N,
// its input (N, I) contiguous as the step's activations are and of x_like's type; 0 where one of them is ATen's
// (MKL keeps threads of its own). From the plans in force (gemm::plan_for).
int linear_product_threads(const at::Tensor& x_like, int64_t N, const at::Tensor& weight, bool need_dx);

// The cross-entropy's pieces, for a step that cuts the batch's rows between threads (train_step.cpp):
// cross_entropy_counted checks every target (class index or ignore_index; any other raises ValueError, as the
// engines' own check of y does) and returns N', the rows that count;
// cross_entropy_rows writes dlogits and each row's loss (double) for float32 rows [begin, end) of z (N, C), the
// same bits for any cut of the rows. The loss is then the sum of the rows' losses in row order over N'.
int64_t cross_entropy_counted(const int64_t* y, int64_t N, int64_t C, int64_t ignore_index);
void cross_entropy_rows(const float* z, float* dz, const int64_t* y, int64_t begin, int64_t end, int64_t C,
                        int64_t ignore_index, int64_t counted, double* row_loss);
// (loss, dlogits): dlogits from source (as above), the loss always a new tensor (the step returns it).
std::tuple<at::Tensor, at::Tensor> cross_entropy_forward_backward_cpu(const at::Tensor& logits,
                                                                      const at::Tensor& target,
                                                                      int64_t ignore_index,
                                                                      TensorSource* source = nullptr);

void sgd_update_cpu(at::TensorList params, at::TensorList grads, at::TensorList bufs, double lr, double momentum,
                    double dampening, double weight_decay, bool nesterov, bool maximize, bool first_step);
// SGD's and Adam's update of a float32 weight W (O, I) from a gradient that is one outer product, dW = dzᵀ · x
// with dz (1, O) and x (1, I) (a batch of one row): each row of dW is made in a buffer, dW[i, j] = dz[i] · x[j]
// + 0 (the value gemm.h's product stores: one term, summed from zero), and updated from there by sgd_update_'s
// or adam_update_'s element function. The same bits as the dW product followed by sgd_update_cpu or
// adam_update_cpu with one parameter; dW is never written to memory. (Adam: its step size and bias correction
// as adam_update_cpu takes them for this parameter.)
void sgd_update_outer_cpu(const at::Tensor& weight, const at::Tensor& dz, const at::Tensor& x, const at::Tensor& buf,
                          double lr, double momentum, double dampening, double weight_decay, bool nesterov,
                          bool maximize, bool first_step);
void adam_update_outer_cpu(const at::Tensor& weight, const at::Tensor& dz, const at::Tensor& x,
                           const at::Tensor& exp_avg, const at::Tensor& exp_avg_sq, const at::Tensor& max_exp_avg_sq,
                           double step_size, double bias_correction2_sqrt, double lr, double beta1, double beta2,
                           double eps, double weight_decay, bool decoupled, bool amsgrad, bool maximize);
// The optimizer's update of a float32 weight W (O, I) made inside its dW product: the product hands each block of
// dW it finishes to done() (gemm.h's Done, on the thread that stored it, while the block is in that core's cache),
// and the block's elements are updated there by sgd_update_'s or adam_update_'s element function from it. Every
// element once, by the function and the scalars sgd_update_cpu or adam_update_cpu would apply to it: the same bits
// as the product followed by the update, without the update's pass over dW. The object must stay where it is
// (done() points at it) until the product returns. (Adam: its step size and bias correction as adam_update_cpu
// takes them for this parameter.)
struct BlockUpdate {
  float* p = nullptr;
  float* buf = nullptr;                        // SGD's momentum buffer (or none), Adam's exp_avg
  float* v = nullptr;                          // Adam: exp_avg_sq, max_exp_avg_sq (AMSGrad) or none
  float* vmax = nullptr;
  int64_t ld = 0;                              // W's row stride
  SgdScalars<float> sgd{};
  AdamScalars<float> adam{};
  void (*fn)(void*, const float*, int64_t, int64_t, int64_t, int64_t, int64_t) = nullptr;   // the flags' instance
  gemm::Done done() { return {fn, this}; }
};
BlockUpdate sgd_block_update(const at::Tensor& weight, const at::Tensor& buf, double lr, double momentum,
                             double dampening, double weight_decay, bool nesterov, bool maximize, bool first_step);
BlockUpdate adam_block_update(const at::Tensor& weight, const at::Tensor& exp_avg, const at::Tensor& exp_avg_sq,
                              const at::Tensor& max_exp_avg_sq, double step_size, double bias_correction2_sqrt,
                              double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                              bool amsgrad, bool maximize);
void adam_update_cpu(at::TensorList params, at::TensorList grads, at::TensorList exp_avgs,
                     at::TensorList exp_avg_sqs, at::TensorList max_exp_avg_sqs, at::ArrayRef<double> step_sizes,
                     at::ArrayRef<double> bias_correction2_sqrts, double lr, double beta1, double beta2, double eps,
                     double weight_decay, bool decoupled, bool amsgrad, bool maximize);

// a (M, K) · b (K, N) -> (M, N), float32, any strides, by gemm.h's GEMM on isa ('auto', 'avx512', 'avx2', 'scalar'),
// or on the plan given as the tuner's ints (gemm_op.cpp: the ops own_mm and own_mm_plan; direct_calls.cpp calls them).
at::Tensor own_mm_cpu(const at::Tensor& a, const at::Tensor& b, c10::string_view isa);
at::Tensor own_mm_plan_cpu(const at::Tensor& a, const at::Tensor& b, c10::IntArrayRef plan_ints);

// The 3L - 1 products of an MLP training step back to back, by gemm 'own' or 'aten' (gemm_op.cpp: the op
// mlp_products, for benchmarks; direct_calls.cpp calls it too).
std::vector<at::Tensor> mlp_products(at::TensorList acts, at::TensorList weights, at::TensorList dzs,
                                     c10::string_view gemm);

// The whole training step of an MLP in one call (train_step.cpp): the ops mlp_sgd_step_ and mlp_adam_step_ on the
// CPU (kernels/common/schema.cpp has their arguments), also called without the dispatcher (direct_calls.cpp).
at::Tensor mlp_sgd_step_cpu(const at::Tensor& x, const at::Tensor& target, at::TensorList weights,
                            at::TensorList biases, at::TensorList momentum_buffers, c10::string_view activation,
                            double lr, double momentum, double dampening, double weight_decay, bool nesterov,
                            bool maximize);
at::Tensor mlp_adam_step_cpu(const at::Tensor& x, const at::Tensor& target, at::TensorList weights,
                             at::TensorList biases, at::TensorList steps, at::TensorList exp_avgs,
                             at::TensorList exp_avg_sqs, at::TensorList max_exp_avg_sqs, c10::string_view activation,
                             double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                             bool amsgrad, bool maximize);

}  // namespace minitorch_clf
