"""The custom ops of kernels/, callable from Python: each wrapper beside its fake kernel and autograd.

    from minitorch_clf import ops
    h, saved = ops.linear_forward(x, w, b, "relu")     # builds kernels/cpu the first time (cached), then runs

kernels/common/schema.cpp declares every op in `TORCH_LIBRARY(minitorch_clf, m)`; kernels/cpu and
kernels/cuda register the CPU and CUDA kernels. Here each op gets a fake (meta) kernel, which checks
the shapes with torch._check and says the output's, so torch.compile traces the op without running
it; the differentiable ones also get an autograd formula built from their backward op. build.py
compiles and caches the libraries. Every call goes through a wrapper, which loads what it needs.
One exception: the fused engine's CPU step calls its op's kernel without the dispatcher, through
`direct()` (kernels/cpu/direct_calls.cpp), to spare the several microseconds of a torch.ops call.
"""
from __future__ import annotations

import contextlib
import os

import torch

from .build import BuildError, build_root, cuda_home, cuda_unbuildable, kernel_dir, runtime_link_flags, sources  # noqa: F401
from .build import _state, build_cpu, build_cuda
from . import build_folders  # noqa: F401
from ..errors import expect_one_of
from ..functional import ACTIVATIONS, BACKWARD_READS_INPUT

LIB = "minitorch_clf"
OPS = ("linear_forward", "linear_forward_v", "linear_backward", "cross_entropy_forward_backward", "sgd_update_",
       "adam_update_", "mlp_sgd_step_", "mlp_adam_step_", "mlp_sgd_epoch_", "mlp_adam_epoch_", "own_mm", "own_mm_plan",
       "mlp_products")
CPU_OPS = tuple(op for op in OPS if op != "linear_forward_v")     # linear_forward_v picks a CUDA version
# no CUDA kernel: the CPU GEMM's ops, and Adam's whole step and epoch (on a GPU Adam runs layer by layer)
CPU_ONLY = ("own_mm", "own_mm_plan", "mlp_products", "mlp_adam_step_", "mlp_adam_epoch_")
CUDA_OPS = tuple(op for op in OPS if op not in CPU_ONLY)
GEMMS = ("auto", "aten", "own")                                   # MINITORCH_CLF_GEMM, set_gemm
ISAS = ("auto", "avx512", "avx2", "scalar")                      # MINITORCH_CLF_ISA, set_isa
# The CUDA versions of linear_forward that linear_forward_v runs (kernels/cuda/bindings.cpp), with their
# names and the dtypes each takes: the one table bench, benchmarks/gpu_epoch.py and the tests read.
LINEAR_VERSIONS = {1: ("tiled", (torch.float32, torch.float64)), 2: ("cuBLASLt", (torch.float32,))}


def linear_versions(dtype: torch.dtype = torch.float32) -> list[int]:
    """The CUDA linear_forward versions that take `dtype`."""
    return [v for v, (_, dtypes) in LINEAR_VERSIONS.items() if dtype in dtypes]


def load(verbose: bool = False) -> dict:
    """Build (first time) and load the CPU kernels, register the fakes and autograd formulas, apply
    MINITORCH_CLF_GEMM. Idempotent. Returns {"library": the .so, "seconds": load (and build) time}."""
    first = "cpu" not in _state
    if first:
        _check_cache_kb(os.environ.get("MINITORCH_CLF_CACHE_KB"))
    info = build_cpu(verbose)
    if first:
        _register_python_halves()
        _set_gemm(os.environ.get("MINITORCH_CLF_GEMM", "auto"), "MINITORCH_CLF_GEMM")
        _set_isa(os.environ.get("MINITORCH_CLF_ISA", "auto"), "MINITORCH_CLF_ISA")
    return info


def _check_cache_kb(text: str | None) -> None:
    """MINITORCH_CLF_CACHE_KB="L1d,L2" in KiB overrides the caches the GEMM blocks for (gemm.h); the C++
    side reads it once, so a value it could not use is refused here, before the first kernel runs."""
    if text is None:
        return
    try:
        l1d, l2 = (int(v) for v in text.split(","))
    except ValueError:
        l1d = l2 = 0
    if not 2 <= l1d <= l2:
        raise ValueError(f"MINITORCH_CLF_CACHE_KB: expected 'L1d,L2' in KiB, two integers with 2 <= L1d <= L2 "
                         f"(e.g. 48,2048), got {text!r}")


def load_cuda(verbose: bool = False) -> dict:
    """load(), then build (first time) and load kernels/cuda (works without a GPU: compile only)."""
    load(verbose)
    return build_cuda(verbose)


def registered_kernels() -> dict[str, list[str]]:
    """For each op, the dispatch keys with a kernel registered (CPU, CUDA)."""
    return {name: [key for key in ("CPU", "CUDA") if torch._C._dispatch_has_kernel_for_dispatch_key(f"{LIB}::{name}", key)]
            for name in OPS}


def _lib(*tensors):
    """torch.ops.minitorch_clf with the CPU kernels loaded, and the CUDA ones where a tensor is on a GPU."""
    load()
    if any(isinstance(t, torch.Tensor) and t.is_cuda for t in tensors):
        load_cuda()
    return torch.ops.minitorch_clf


def direct():
    """The CPU library's direct calls (kernels/cpu/direct_calls.cpp): `sgd_step`, `adam_step`,
    `mlp_products`, `own_mm` and `own_mm_plan` take the arguments of the ops of those names (sgd_step:
    mlp_sgd_step_, adam_step: mlp_adam_step_) and run their CPU kernels without the dispatcher, CPU tensors
    only. The fused engine's CPU step and every row of bench --gemm call them; every other caller takes the
    ops."""
    module = _state.get("direct")
    if module is None:
        load()
        module = _state["direct"]
    return module


def _check_2d(name: str, t, what: str) -> None:
    torch._check(t.dim() == 2, lambda: f"{name}: expected {what}, got shape {tuple(t.shape)}")


def _one_device(names: str, *tensors) -> None:
    """The fakes run for meta tensors too (the Meta key outranks CPU): a meta tensor beside a CPU one
    would otherwise get a fake answer on the CPU's device instead of the kernels' device error."""
    flat = [t for x in tensors for t in (x if isinstance(x, (list, tuple)) else [x])]
    devices = {t.device for t in flat}
    torch._check(len(devices) <= 1, lambda: f"{names}: expected one device, got {', '.join(sorted(map(str, devices)))}")


# ----------------------------------------------------------------------------------------------
# linear

def linear_forward(x, weight, bias, activation: str = "identity"):
    """h = act(x Wᵀ + b): (N, I), (O, I), (O,) -> (h (N, O), saved), where saved is what
    linear_backward reads for act': h itself, or the pre-activation z for GELU (functional.BACKWARD_READS_INPUT)."""
    out, pre = _lib(x).linear_forward(x, weight, bias, activation)
    return out, (pre if activation in BACKWARD_READS_INPUT else out)


def _linear_forward_fake(x, weight, bias, activation, version=None):
    _one_device("x, weight, bias", x, weight, bias)
    _check_2d("weight", weight, "(out_features, in_features)")
    _check_2d("x", x, "(N, in_features)")
    torch._check(x.shape[1] == weight.shape[1], lambda: f"x: expected (N, {weight.shape[1]}), got {tuple(x.shape)}")
    torch._check(tuple(bias.shape) == (weight.shape[0],), lambda: f"bias: expected ({weight.shape[0]},)")
    torch._check(activation in ACTIVATIONS, lambda: f"activation: expected one of {', '.join(ACTIVATIONS)}, "
                                                    f"got {activation!r}")
    out = x.new_empty(x.shape[0], weight.shape[0])
    return out, (x.new_empty(out.shape) if activation in BACKWARD_READS_INPUT else x.new_empty(0, 0))


def _linear_setup(ctx, inputs, output):
    x, weight, bias, activation = inputs
    out, pre = output
    ctx.mark_non_differentiable(pre)
    ctx.save_for_backward(x, weight, pre if activation in BACKWARD_READS_INPUT else out)
    ctx.activation = activation


def _linear_grad(ctx, dout, _dpre):
    x, weight, saved = ctx.saved_tensors
    need_dx = ctx.needs_input_grad[0]
    dx, dweight, dbias = linear_backward(dout.contiguous(), x, weight, saved, ctx.activation, need_dx)
    return (dx if need_dx else None), dweight, dbias, None


def linear_backward(dout, x, weight, saved, activation: str, need_dx: bool = True):
    """(dx or an empty tensor, dweight, dbias) of linear_forward; `saved` is the second thing it returned."""
    return _lib(x).linear_backward(dout, x, weight, saved, activation, need_dx)


def _linear_backward_fake(dout, x, weight, saved, activation, need_dx):
    _one_device("dout, x, weight, saved", dout, x, weight, saved)
    _check_2d("x", x, "(N, in_features)")
    _check_2d("weight", weight, "(out_features, in_features)")
    torch._check(tuple(dout.shape) == (x.shape[0], weight.shape[0]) and saved.shape == dout.shape,
                 lambda: f"dout, saved: expected ({x.shape[0]}, {weight.shape[0]})")
    dx = x.new_empty(x.shape) if need_dx else x.new_empty(0)
    return dx, weight.new_empty(weight.shape), weight.new_empty(weight.shape[0])


# ----------------------------------------------------------------------------------------------
# cross-entropy

def cross_entropy_forward_backward(logits, target, ignore_index: int = -100):
    """(mean loss, dlogits for dloss = 1) over class targets, in one pass. Rows whose target is
    `ignore_index` count for nothing, as in F.cross_entropy (every row ignored: loss NaN, dlogits 0)."""
    return _lib(logits).cross_entropy_forward_backward(logits, target, ignore_index)


def _cross_entropy_fake(logits, target, ignore_index=-100):
    _one_device("logits, target", logits, target)
    _check_2d("logits", logits, "(N, C)")
    torch._check(tuple(target.shape) == (logits.shape[0],), lambda: f"target: expected ({logits.shape[0]},)")
    return logits.new_empty(()), logits.new_empty(logits.shape)


def _ce_setup(ctx, inputs, output):
    loss, dlogits = output
    ctx.save_for_backward(dlogits)
    ctx.mark_non_differentiable(dlogits)


def _ce_grad(ctx, dloss, _ddlogits):
    (dlogits,) = ctx.saved_tensors
    return dlogits * dloss, None, None        # dlogits was computed for dloss = 1: scale by the real one


# ----------------------------------------------------------------------------------------------
# optimizers and the whole step (in place: their fakes return nothing but the loss)

def _sgd_update_fake(params, grads, momentum_buffers, lr, momentum, dampening, weight_decay, nesterov, maximize,
                     first_step):
    _one_device("params, grads, momentum_buffers", params, grads, momentum_buffers)
    torch._check(len(grads) == len(params), lambda: "grads: expected one per param")


def _adam_update_fake(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, step_sizes, bias_correction2_sqrts,
                      lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize):
    _one_device("params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs", params, grads, exp_avgs, exp_avg_sqs,
                max_exp_avg_sqs)
    torch._check(len(grads) == len(params) == len(exp_avgs) == len(exp_avg_sqs),
                 lambda: "grads, exp_avgs, exp_avg_sqs: expected one per param")


def _mlp_sgd_step_fake(x, target, weights, biases, momentum_buffers, activation, lr, momentum, dampening,
                       weight_decay, nesterov, maximize):
    _one_device("x, target, weights, biases, momentum_buffers", x, target, weights, biases, momentum_buffers)
    torch._check(len(weights) == len(biases) and len(weights) > 0, lambda: "weights, biases: one of each per layer")
    return x.new_empty(())


def _mlp_adam_step_fake(x, target, weights, biases, steps, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, activation, lr,
                        beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize):
    _one_device("x, target, weights, biases, exp_avgs, exp_avg_sqs, max_exp_avg_sqs", x, target, weights, biases,
                exp_avgs, exp_avg_sqs, max_exp_avg_sqs)
    torch._check(len(weights) == len(biases) and len(weights) > 0, lambda: "weights, biases: one of each per layer")
    return x.new_empty(())


def _mlp_sgd_epoch_fake(x, target, order, batch_size, drop_last, weights, biases, momentum_buffers, activation, lr,
                        momentum, dampening, weight_decay, nesterov, maximize):
    _one_device("x, target, order, weights, biases, momentum_buffers", x, target, order, weights, biases,
                momentum_buffers)
    torch._check(len(weights) == len(biases) and len(weights) > 0, lambda: "weights, biases: one of each per layer")
    return _epoch_losses(x, order, batch_size, drop_last)


def _epoch_losses(x, order, batch_size, drop_last):
    """An epoch op's losses: one per step."""
    n = order.shape[0]
    return x.new_empty(n // batch_size if drop_last else -(-n // batch_size))


def _mlp_adam_epoch_fake(x, target, order, batch_size, drop_last, weights, biases, steps, exp_avgs, exp_avg_sqs,
                         max_exp_avg_sqs, activation, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize):
    _one_device("x, target, order, weights, biases, exp_avgs, exp_avg_sqs, max_exp_avg_sqs", x, target, order, weights,
                biases, exp_avgs, exp_avg_sqs, max_exp_avg_sqs)
    torch._check(len(weights) == len(biases) and len(weights) > 0, lambda: "weights, biases: one of each per layer")
    return _epoch_losses(x, order, batch_size, drop_last)


# ----------------------------------------------------------------------------------------------
# the GEMM of kernels/cpu/gemm/ (its plans and their tuner: tune.py)

def own_mm(a, b, isa: str = "auto"):
    """a (M, K) · b (K, N) with kernels/cpu/gemm/gemm.h's float32 GEMM, any strides; isa 'auto' (set_isa's
    choice), 'avx512', 'avx2' or 'scalar'."""
    return _lib().own_mm(a, b, isa)


def _own_mm_fake(a, b, isa="auto"):            # torch leaves out an argument at its default
    _one_device("a, b", a, b)
    torch._check(a.dim() == 2 and b.dim() == 2 and a.shape[1] == b.shape[0],
                 lambda: f"a, b: expected (M, K) and (K, N), got {tuple(a.shape)} and {tuple(b.shape)}")
    return a.new_empty(a.shape[0], b.shape[1])


def _own_mm_plan_fake(a, b, plan):
    return _own_mm_fake(a, b)


def mlp_products(acts, weights, dzs, gemm: str):
    """The 3L - 1 products of an MLP step in one call, with gemm 'own' or 'aten' (kernels/cpu/gemm/gemm_op.cpp)."""
    return _lib().mlp_products(acts, weights, dzs, gemm)


def _mlp_products_fake(acts, weights, dzs, gemm):
    _one_device("acts, weights, dzs", acts, weights, dzs)
    torch._check(len(acts) == len(weights) == len(dzs), lambda: "acts, weights, dzs: one of each per layer")
    return ([a.new_empty(a.shape[0], w.shape[0]) for a, w in zip(acts, weights)]
            + [w.new_empty(w.shape) for w in weights] + [a.new_empty(a.shape) for a in acts[1:]])


def cpu_isas() -> list[str]:
    """The instruction sets the GEMM can run here, widest first: e.g. ['avx512', 'avx2', 'scalar']."""
    return list(_lib().cpu_isas())


def gemm_blocking(isa: str = "auto") -> dict:
    """The caches the GEMM sized its blocks by and the outer kernel's blocks for `isa` ('auto': the current
    one): {'L1d': bytes, 'L2': bytes, 'k_block': k per packed B panel, 'row_block': rows per packed A block}
    (0 and 0 for 'scalar', which does not block)."""
    l1d, l2, k_block, row_block = _lib().gemm_blocking(isa)
    return {"L1d": l1d, "L2": l2, "k_block": k_block, "row_block": row_block}


def set_isa(name: str) -> str:
    """The instruction set of the GEMM (and so of the fused CPU ops' products): 'auto' (the widest this
    CPU has), 'avx512', 'avx2' or 'scalar'. Returns the previous choice. An ISA the CPU lacks is refused."""
    load()
    return _set_isa(name, "name")


def _set_isa(name: str, source: str) -> str:
    expect_one_of(source, name, ISAS)
    if name != "auto" and name not in torch.ops.minitorch_clf.cpu_isas():
        raise ValueError(f"{source}: this CPU cannot run {name!r} (it runs {', '.join(torch.ops.minitorch_clf.cpu_isas())})")
    return torch.ops.minitorch_clf.set_isa(name)


def isa(name: str):
    """`with ops.isa("avx2"): ...` runs the block's GEMMs with that instruction set, then restores."""
    return _switched(set_isa, name)


def set_precision(name: str) -> str:
    """The format of the fused CPU ops' products: 'float32', or 'bf16' (each operand rounded to bfloat16,
    float32 sums: functional.round_to's semantics; bf16_kernels() says which kernels run it here).
    Returns the previous one."""
    expect_one_of("precision", name, ("float32", "bf16"))
    return _lib().set_precision(name)


def set_cuda_precision(name: str) -> str:
    """The format of the fused CUDA ops' float32 products: 'float32', 'tf32' (cuBLASLt reads the operands at
    TF32's 10-bit mantissa) or 'bf16' (each operand rounded to bfloat16); tensor cores, float32 sums and
    outputs. Builds and loads the CUDA kernels. Returns the previous one."""
    expect_one_of("precision", name, ("float32", "tf32", "bf16"))
    load_cuda()
    return torch.ops.minitorch_clf.set_cuda_precision(name)


def precision(name: str, device: str = "cpu"):
    """`with ops.precision("bf16"): ...` runs the block's fused CPU products in bf16 (device 'cuda': its fused
    CUDA products, in bf16 or tf32), then restores."""
    return _switched(set_cuda_precision if device == "cuda" else set_precision, name)


BF16_KERNELS = ("auto", "amx", "avx512bf16", "fma")


def bf16_kernels() -> list[str]:
    """The kernels that can compute the bf16 products here, the one 'auto' takes first: 'amx' (AMX tiles,
    kernels/cpu/gemm/gemm_amx.cpp: AMX-BF16 and Linux's leave to use the tile state), 'avx512bf16'
    (vdpbf16ps, gemm_bf16.cpp) and, on any CPU, 'fma' (each operand rounded to bf16 into a float32 copy,
    then the float32 GEMM: a product of two bf16 values is exact in float32). The same sums of the same
    rounded operands, added in other orders."""
    return list(_lib().bf16_kernels())


def set_bf16_kernel(name: str) -> str:
    """The kernel of the bf16 products: 'auto' (the first of bf16_kernels()), 'amx', 'avx512bf16' or 'fma'.
    Returns the previous setting. A kernel the CPU cannot run is refused."""
    expect_one_of("bf16_kernel", name, BF16_KERNELS)
    if name != "auto" and name not in bf16_kernels():
        raise ValueError(f"bf16_kernel: this CPU cannot run {name!r} (it runs {', '.join(bf16_kernels()) or 'none'})")
    return torch.ops.minitorch_clf.set_bf16_kernel(name)


def bf16_kernel(name: str):
    """`with ops.bf16_kernel("avx512bf16"): ...` computes the block's bf16 products so, then restores."""
    return _switched(set_bf16_kernel, name)


def set_gemm(name: str) -> str:
    """Choose the float32 GEMM inside the fused CPU ops: 'own' (kernels/cpu/gemm/gemm.h), 'aten' (MKL), or
    'auto' (own where the CPU has AVX2/FMA and some size of the product is <= 128, ATen's otherwise).
    Returns the previous choice. Float64 always uses ATen's."""
    load()
    return _set_gemm(name, "name")


def _set_gemm(name: str, source: str) -> str:
    expect_one_of(source, name, GEMMS)
    return torch.ops.minitorch_clf.set_gemm(name)


@contextlib.contextmanager
def _switched(setter, name: str):
    previous = setter(name)
    try:
        yield
    finally:
        setter(previous)


def gemm(name: str):
    """`with ops.gemm("aten"): ...` runs the block with that GEMM, then restores the previous one."""
    return _switched(set_gemm, name)


# ----------------------------------------------------------------------------------------------

FAKES = {"linear_forward": _linear_forward_fake, "linear_forward_v": _linear_forward_fake,
         "linear_backward": _linear_backward_fake, "cross_entropy_forward_backward": _cross_entropy_fake,
         "sgd_update_": _sgd_update_fake, "adam_update_": _adam_update_fake, "mlp_sgd_step_": _mlp_sgd_step_fake,
         "mlp_adam_step_": _mlp_adam_step_fake, "mlp_sgd_epoch_": _mlp_sgd_epoch_fake,
         "mlp_adam_epoch_": _mlp_adam_epoch_fake,
         "own_mm": _own_mm_fake, "own_mm_plan": _own_mm_plan_fake, "mlp_products": _mlp_products_fake}
AUTOGRAD = {"linear_forward": (_linear_grad, _linear_setup), "cross_entropy_forward_backward": (_ce_grad, _ce_setup)}


def _register_python_halves() -> None:
    """The fakes and autograd formulas above, registered once the library has declared the ops."""
    if _state.get("python_halves"):
        return
    for name, fake in FAKES.items():
        torch.library.register_fake(f"{LIB}::{name}", fake)
    for name, (grad, setup) in AUTOGRAD.items():
        torch.library.register_autograd(f"{LIB}::{name}", grad, setup_context=setup)
    _state["python_halves"] = True
