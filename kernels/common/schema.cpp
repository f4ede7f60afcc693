// The custom ops of minitorch_clf: the whole schema, here; kernels registered per dispatch key
// (CPU in ../cpu and ../cpu/gemm, CUDA in ../cuda). Built into the CPU library, which is always loaded
// before the CUDA one. Shapes: N = batch, I = in_features, O = out_features, C = classes. Python adds fake (meta) kernels and autograd formulas in minitorch_clf/ops/__init__.py.
#include <torch/library.h>

TORCH_LIBRARY(minitorch_clf, m) {
  // h = act(z), z = x W^T + b, act one of ../common/activation.h's ('identity', 'relu', 'leaky_relu',
  // 'tanh', 'sigmoid', 'gelu', 'gelu_tanh').  x (N, I), weight (O, I), bias (O,) ->
  // (h (N, O), z (N, O) where act' reads z (GELU), else an empty (0, 0) tensor)
  m.def("linear_forward(Tensor x, Tensor weight, Tensor bias, str activation) -> (Tensor, Tensor)");
  // The same with the CUDA kernel version chosen: 1 = the tiled kernel written to be read,
  // 2 = cuBLASLt with the bias (+ ReLU) epilogue (float32). linear_forward uses the best of them.
  m.def("linear_forward_v(Tensor x, Tensor weight, Tensor bias, str activation, int version) -> (Tensor, Tensor)");
  // Gradients of linear_forward from dout (N, O) and saved (N, O), what act' reads: the forward's h, or
  // its z for GELU. (dx (N, I) or an empty tensor when not need_dx, dweight (O, I), dbias (O,))
  // a (M, K) · b (K, N) with the float32 GEMM of gemm.h (CPU), any strides; isa = 'auto' (set_isa's
  // choice, by default the widest the CPU has), 'avx512', 'avx2' or 'scalar'. The fused ops use it
  // through set_gemm's switch.
  m.def("own_mm(Tensor a, Tensor b, str isa='auto') -> Tensor");
  // The same with the plan given: [isa, kernel, k_block, threads, split] (gemm/gemm_op.cpp's ints);
  // minitorch_clf/ops/tune.py times the candidates with it.
  m.def("own_mm_plan(Tensor a, Tensor b, int[] plan) -> Tensor");
  // The 3L - 1 products of an MLP training step back to back, with gemm = 'own' or 'aten' (benchmarks):
  // acts[k] (N, I_k), weights[k] (O_k, I_k), dzs[k] (N, O_k) -> [y_k] + [dW_k] + [dx_k for k >= 1]
  m.def("mlp_products(Tensor[] acts, Tensor[] weights, Tensor[] dzs, str gemm) -> Tensor[]");
  m.def("linear_backward(Tensor dout, Tensor x, Tensor weight, Tensor saved, str activation, bool need_dx)"
        " -> (Tensor, Tensor, Tensor)");
  // Mean softmax cross-entropy over class targets, and its gradient, in one pass over the logits:
  // logits (N, C), target (N,) int64 -> (loss (), dlogits (N, C) for dloss = 1). Rows whose target is
  // ignore_index count for nothing (F.cross_entropy's rule; all ignored: loss NaN, dlogits 0).
  m.def("cross_entropy_forward_backward(Tensor logits, Tensor target, int ignore_index=-100) -> (Tensor, Tensor)");
  // One SGD step over every parameter in one call (torch.optim.SGD's update, fused).
  m.def("sgd_update_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] momentum_buffers, float lr,"
        " float momentum, float dampening, float weight_decay, bool nesterov, bool maximize,"
        " bool first_step) -> ()");
  // One Adam/AdamW step over every parameter in one call; per-parameter step sizes
  // lr / (1 - beta1^t) and sqrt(1 - beta2^t) come from the caller (they depend on each step count).
  m.def("adam_update_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] exp_avgs,"
        " Tensor(c!)[] exp_avg_sqs, Tensor(d!)[] max_exp_avg_sqs, float[] step_sizes,"
        " float[] bias_correction2_sqrts, float lr, float beta1, float beta2, float eps,"
        " float weight_decay, bool decoupled, bool amsgrad, bool maximize) -> ()");
  // A whole SGD step of an MLP (linears with the activation between, cross-entropy) in one call: on the CPU
  // the kernels above composed in C++, on CUDA one cooperative kernel (float32, at most 8 layers);
  // momentum buffers must exist (the first step makes them).
  // Targets of -100 are ignored, as by F.cross_entropy's default. Returns the loss; parameters and
  // buffers are updated in place.
  m.def("mlp_sgd_step_(Tensor x, Tensor target, Tensor(a!)[] weights, Tensor(b!)[] biases,"
        " Tensor(c!)[] momentum_buffers, str activation, float lr, float momentum, float dampening, float weight_decay,"
        " bool nesterov, bool maximize) -> Tensor");
  // The same step with Adam's / AdamW's update (adam_update_'s; the CPU only) on existing state (the first
  // step makes it). steps: each parameter's step count (a CPU scalar, torch.optim.Adam's `step` state), read
  // for the bias corrections and advanced by one.
  m.def("mlp_adam_step_(Tensor x, Tensor target, Tensor(a!)[] weights, Tensor(b!)[] biases, Tensor(c!)[] steps,"
        " Tensor(d!)[] exp_avgs, Tensor(e!)[] exp_avg_sqs, Tensor(f!)[] max_exp_avg_sqs, str activation, float lr,"
        " float beta1, float beta2, float eps, float weight_decay, bool decoupled, bool amsgrad, bool maximize)"
        " -> Tensor");
  // An epoch of mlp_sgd_step_ in one call: step k trains on the rows order[k B : (k + 1) B] of x (n, ...)
  // and target (n,) (a last short batch dropped where drop_last); order (k,) int64. The CPU gathers each
  // batch; CUDA runs every step in one cooperative kernel that reads x's rows through order. Returns the
  // losses (steps,).
  m.def("mlp_sgd_epoch_(Tensor x, Tensor target, Tensor order, int batch_size, bool drop_last,"
        " Tensor(a!)[] weights, Tensor(b!)[] biases, Tensor(c!)[] momentum_buffers, str activation, float lr,"
        " float momentum, float dampening, float weight_decay, bool nesterov, bool maximize) -> Tensor");
  // The same epoch with mlp_adam_step_'s steps (the CPU only).
  m.def("mlp_adam_epoch_(Tensor x, Tensor target, Tensor order, int batch_size, bool drop_last,"
        " Tensor(a!)[] weights, Tensor(b!)[] biases, Tensor(c!)[] steps, Tensor(d!)[] exp_avgs,"
        " Tensor(e!)[] exp_avg_sqs, Tensor(f!)[] max_exp_avg_sqs, str activation, float lr, float beta1,"
        " float beta2, float eps, float weight_decay, bool decoupled, bool amsgrad, bool maximize) -> Tensor");
  // Whether mlp_sgd_step_ and mlp_adam_step_ on the CPU run the layers after the first cut by rows between the
  // threads at this batch (h1: the first layer's output (N, O_1); the CPU only; ops/tune.py asks it).
  m.def("layers_cut_by_rows(Tensor h1, Tensor[] weights, str activation) -> bool");
  // Process-wide settings and probes of the GEMM (gemm/): which float32 GEMM the fused CPU ops use
  // ('auto', 'aten', 'own'; returns the previous), and the measured float32 FMA peak of `threads` cores.
  m.def("set_gemm(str name) -> str");
  // The instruction set of gemm.h's GEMM ('auto' = the widest, 'avx512', 'avx2', 'scalar'; returns
  // the previous), the ones this CPU runs, and the FMA peak of `threads` cores with an ISA's vectors.
  m.def("set_isa(str name) -> str");
  m.def("cpu_isas() -> str[]");
  // [L1d bytes, L2 bytes, k_block, row_block]: the caches the GEMM read (sysfs, or
  // MINITORCH_CLF_CACHE_KB) and the outer kernel's blocks derived from them for an ISA.
  m.def("gemm_blocking(str isa='auto') -> int[]");
  // The plan a product of shape [M, N, K, a layout, b layout] runs with isa (+ 1 where tuned, 0 where
  // derived), the tuned plans replaced by rows of [shape, plan] (returns how many), and the tuned plans
  // switched on or off (returns the previous setting).
  m.def("gemm_plan(int[] shape, str isa='auto') -> int[]");
  m.def("set_gemm_plans(int[] rows) -> int");
  m.def("tuned_plans_on(bool on) -> bool");
  // The format of the GEMM's operands ('float32'; 'bf16': rounded to bfloat16, float32 sums; returns the
  // previous).
  m.def("set_precision(str name) -> str");
  // The format of the fused CUDA ops' float32 products ('float32'; 'tf32' or 'bf16': tensor cores on
  // cuBLASLt, float32 sums; returns the previous). Registered by the CUDA kernels' library.
  m.def("set_cuda_precision(str name) -> str");
  // The kernel of the bf16 products ('amx', 'avx512bf16', 'fma' or 'auto': the first of those this CPU runs;
  // returns the previous setting), and the kernels this CPU runs, the one 'auto' takes first.
  m.def("set_bf16_kernel(str name) -> str");
  m.def("bf16_kernels() -> str[]");
  // isa 'avx512bf16': the bf16 dot-product peak (vdpbf16ps) instead; 'amx': the AMX tiles' bf16 peak.
  m.def("fma_peak_gflops(int threads, str isa='auto') -> float");
  // Machine ceilings (ceilings/, ../cuda/peak.cu): the CPU's bandwidth in GB/s with STREAM's 'triad' or
  // 'copy' over arrays of `bytes` in all (best of `samples`); on a GPU, `iters` rounds of 16 independent
  // float32 FMA chains per thread, one thread per element of `out` (its chains' sum lands there).
  m.def("stream_gbps(str kernel, int bytes, int threads, int samples=20) -> float");
  // A cache line's round trip between the cores of OpenMP's threads 0 and 1 in ns (ceilings/round_trip.cpp).
  m.def("core_round_trip_ns(int handoffs=20000, int runs=9) -> float");
  m.def("gpu_fma_chains_(Tensor(a!) out, int iters) -> ()");
  // The barrier probe (../cuda/barriers.cu): one block per element of the int32 `out`, each running `iters`
  // barriers - cluster 0: the whole grid's (a cooperative launch), else its cluster's of that many blocks -
  // and writing the count it passed there.
  m.def("gpu_barrier_rounds_(Tensor(a!) out, int cluster, int iters) -> ()");
}
