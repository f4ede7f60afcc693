"""The maths of SimpleNet, written out: forward and backward of Linear, every activation and cross-entropy.

Shape legend:  N = batch,  I = in_features,  O = out_features,  C = classes.
`ACTIVATIONS` maps the names `--activation` takes to their forward and backward. Cross-entropy as
SimpleNet trains with it (class indices, the mean over the batch); every other option of
F.cross_entropy is in cross_entropy_general.py. `round_to` rounds a product's inputs to bf16 or TF32:
mixed precision, written out in `linear_forward` and `linear_backward` (their `precision`).

Every `*_forward` returns `(out, cache)`; every `*_backward` takes the upstream gradient and that
cache and returns the gradients of the forward's inputs. No autograd is used: these functions work
under `torch.no_grad()` on tensors that do not require grad, and each backward's docstring derives
the rule it implements. The checks in `checks.py` hold every one of them against autograd and
against finite differences.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .errors import expect_one_of
from .validate import require_float, require_grad_like, require_like, require_rank, require_tensor


# ----------------------------------------------------------------------------------------------
# Precision of the products:  round_to

PRECISIONS = ("float32", "tf32", "bf16")
_DROPPED_BITS = {"tf32": 13, "bf16": 16}      # of float32's 23 mantissa bits: tf32 keeps 10, bf16 7


def round_to(x: torch.Tensor, fmt: str) -> torch.Tensor:
    """x (float32) rounded to the nearest value of `fmt`, ties to even, still stored as float32.

    float32 is 1 sign, 8 exponent and 23 mantissa bits. bfloat16 keeps the sign, the 8 exponent bits
    (float32's range: 1e-38 to 3e38) and 7 mantissa bits (a step of 2^-8 relative, under 3 digits);
    TF32, what NVIDIA's tensor cores read for float32 products, keeps 10 (2^-11). Rounding drops the
    d low bits: add 2^(d-1) - 1 plus the lowest kept bit (so an exact half goes to the even
    neighbour), then clear the d bits. A carry out of the mantissa steps the exponent up, as it
    should; the largest finite values round to infinity. NaN stays NaN (its payload could carry into
    the sign bit). 'float32' returns x itself.

    Mixed precision (autocast) rounds only the operands of the products; the products accumulate in
    float32 and every other computation stays float32. A product of two bf16 values is exact in float32
    (8 x 8 significant bits), so `round_to(a) @ round_to(b)` on a float32 GEMM computes what a bf16 unit
    with float32 accumulation does, up to the order of the sum. bf16 needs no loss scaling where
    float16 does: float16 keeps 10 mantissa bits but 5 exponent bits, so gradients below 6e-8 flush to
    zero unless the loss is scaled up first; bf16's exponent is float32's, and so is its range.
    """
    expect_one_of("precision", fmt, PRECISIONS)
    if fmt == "float32":
        return x
    require_float("x", x)
    if x.dtype != torch.float32:
        raise TypeError(f"x: round_to rounds float32 values, got {x.dtype}")
    d = _DROPPED_BITS[fmt]
    bits = x.view(torch.int32)
    lowest_kept = (bits >> d) & 1
    rounded = ((bits + ((1 << (d - 1)) - 1) + lowest_kept) & ~((1 << d) - 1)).view(torch.float32)
    return torch.where(torch.isnan(x), x, rounded)


# ----------------------------------------------------------------------------------------------
# Linear:  y = x Wᵀ + b

def linear_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                   precision: str = "float32"):
    """y = x Wᵀ + b.   x: (*, I),  weight: (O, I),  bias: (O,) or None  ->  y: (*, O).

    Any leading dimensions (none for one sample) are batch dimensions, as in torch.nn.functional.linear.
    `precision` 'bf16' or 'tf32' rounds x and W to that format before the product (round_to); the sum,
    the bias and y stay float32. The cache keeps the rounded x and W: the backward's products read them.
    """
    require_float("weight", weight)
    require_rank("weight", weight, (2,), "(out_features, in_features)")
    require_float("x", x)
    if x.dim() == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"x: expected shape (*, in_features={weight.shape[1]}) (weight is "
            f"{tuple(weight.shape)}), got x of shape {tuple(x.shape)}"
        )
    require_like("x", x, "weight", weight)
    if bias is not None:
        require_float("bias", bias)
        require_like("bias", bias, "weight", weight)
        if tuple(bias.shape) != (weight.shape[0],):
            raise ValueError(f"bias: expected shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    if precision != "float32":                                    # the product's inputs in the format
        x, weight = round_to(x, precision), round_to(weight, precision)
    if bias is not None and x.dim() == 2:
        out = torch.addmm(bias, x, weight.T)                      # (O,) + (N, I)·(I, O), one call
    else:
        out = x @ weight.T                                        # (*, O)
        if bias is not None:
            out = out + bias
    return out, (x, weight, bias is not None, precision)


def linear_backward(dout: torch.Tensor, cache, need_dx: bool = True):
    """Gradients of y = x Wᵀ + b.   dout: like y (*, O)  ->  dx: like x, dweight: (O, I), dbias: (O,) or None.

    Element-wise y[n,o] = Σ_i x[n,i] W[o,i] + b[o] (n running over every leading index), so
        ∂L/∂x[n,i] = Σ_o dout[n,o] W[o,i]      ->  dx = dout · W
        ∂L/∂W[o,i] = Σ_n dout[n,o] x[n,i]      ->  dW = doutᵀ · x   (x, dout flattened to (-1, I), (-1, O))
        ∂L/∂b[o]   = Σ_n dout[n,o]             ->  db = dout summed over every leading index
    `need_dx=False` skips dx (the first layer's input needs no gradient) and returns None for it.
    With the forward's precision 'bf16' or 'tf32' the two products read dout rounded to the format and
    the rounded x and W (the cache's); rounding counts as the identity in the chain rule (autocast's
    casts do the same), so these are the gradients of the rounded product. db sums dout unrounded.
    """
    x, weight, has_bias, precision = cache
    require_grad_like("dout", dout, (*x.shape[:-1], weight.shape[0]), x)
    m = math.prod(x.shape[:-1])                                   # M rows (explicit: I or O may be 0)
    dbias = dout.reshape(m, dout.shape[-1]).sum(0) if has_bias else None      # (O,)
    if precision != "float32":
        dout = round_to(dout, precision)                          # the products' input
    x2, dout2 = x.reshape(m, x.shape[-1]), dout.reshape(m, dout.shape[-1])    # (M, I), (M, O)
    dx = (dout @ weight) if need_dx else None                     # (*, O)·(O, I) = (*, I)
    dweight = dout2.T @ x2                                        # (O, M)·(M, I) = (O, I)
    return dx, dweight, dbias


# ----------------------------------------------------------------------------------------------
# ReLU:  y = max(x, 0)

def relu_forward(x: torch.Tensor):
    """y = max(x, 0), element-wise; any shape.  The cache is y itself."""
    require_float("x", x)
    out = x.clamp_min(0)
    return out, out


def relu_backward(dout: torch.Tensor, cache) -> torch.Tensor:
    """dx = dout · 1[x > 0].

    y = x where x > 0 and 0 elsewhere, so ∂y/∂x is 1 on the positive side and 0 on the other.
    At x = 0 the derivative does not exist; like PyTorch we take 0 there.
    The mask 1[x > 0] is sign(y) for y = max(x, 0): 1 where x > 0, 0 elsewhere, already a float
    (a boolean mask converted to float costs more than this whole product: RESULTS.md).
    """
    require_grad_like("dout", dout, tuple(cache.shape), cache)
    return dout * cache.sign()


# ----------------------------------------------------------------------------------------------
# The other activations (element-wise, any shape). Each backward is dout · y'(x).

def gelu_forward(x: torch.Tensor, approximate: str = "none"):
    """y = x Φ(x), Φ the standard normal CDF: ½ x (1 + erf(x / √2)); with approximate="tanh",
    y = ½ x (1 + tanh u),  u = √(2/π) (x + 0.044715 x³), as torch.nn.functional.gelu. Caches x."""
    require_float("x", x)
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate: expected 'none' or 'tanh', got {approximate!r}")
    if approximate == "tanh":
        out = 0.5 * x * (1 + torch.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x * x * x)))
    else:
        out = 0.5 * x * (1 + torch.erf(x * _SQRT_HALF))
    return out, (x, approximate)


def gelu_backward(dout: torch.Tensor, cache) -> torch.Tensor:
    """dx = dout · y'(x).
    Exact:  y = x Φ(x)  ->  y' = Φ(x) + x φ(x),  φ(x) = exp(-x²/2) / √(2π) the normal density.
    Tanh:   y = ½ x (1 + t), t = tanh u  ->  y' = ½ (1 + t) + ½ x (1 - t²) u',  u' = √(2/π) (1 + 3·0.044715 x²).
    """
    x, approximate = cache
    require_grad_like("dout", dout, tuple(x.shape), x)
    if approximate == "tanh":
        t = torch.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x * x * x))
        du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_C * x * x)
        return dout * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
    cdf = 0.5 * (1 + torch.erf(x * _SQRT_HALF))
    pdf = torch.exp(-0.5 * x * x) * _INV_SQRT_2PI
    return dout * (cdf + x * pdf)


_SQRT_HALF, _INV_SQRT_2PI = 0.5**0.5, (2 * math.pi) ** -0.5
_SQRT_2_OVER_PI, _GELU_C = (2 / math.pi) ** 0.5, 0.044715


def tanh_forward(x: torch.Tensor):
    """y = tanh x. Caches y."""
    require_float("x", x)
    out = torch.tanh(x)
    return out, out


def tanh_backward(dout: torch.Tensor, cache) -> torch.Tensor:
    """tanh' = 1 - tanh²  ->  dx = dout · (1 - y²), from the cached y alone."""
    require_grad_like("dout", dout, tuple(cache.shape), cache)
    return dout * (1 - cache * cache)


def sigmoid_forward(x: torch.Tensor):
    """y = σ(x) = 1 / (1 + e^-x). Caches y."""
    require_float("x", x)
    out = torch.sigmoid(x)
    return out, out


def sigmoid_backward(dout: torch.Tensor, cache) -> torch.Tensor:
    """σ' = e^-x / (1 + e^-x)² = σ (1 - σ)  ->  dx = dout · y (1 - y)."""
    require_grad_like("dout", dout, tuple(cache.shape), cache)
    return dout * cache * (1 - cache)


def leaky_relu_forward(x: torch.Tensor, negative_slope: float = 0.01):
    """y = x where x > 0, negative_slope · x elsewhere. Caches x and the slope."""
    require_float("x", x)
    return torch.where(x > 0, x, x * negative_slope), (x, negative_slope)


def leaky_relu_backward(dout: torch.Tensor, cache) -> torch.Tensor:
    """y' = 1 where x > 0 and negative_slope elsewhere (at x = 0 too, as torch)."""
    x, negative_slope = cache
    require_grad_like("dout", dout, tuple(x.shape), x)
    return torch.where(x > 0, dout, dout * negative_slope)


def identity_forward(x: torch.Tensor):
    """y = x (no activation). Caches x, for the shape check of the backward."""
    require_float("x", x)
    return x, x


def identity_backward(dout: torch.Tensor, cache) -> torch.Tensor:
    """y' = 1  ->  dx = dout."""
    require_grad_like("dout", dout, tuple(cache.shape), cache)
    return dout


# name -> (forward(x) -> (y, cache), backward(dout, cache) -> dx): what `--activation NAME` selects
ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "gelu": (gelu_forward, gelu_backward),
    "gelu_tanh": (lambda x: gelu_forward(x, "tanh"), gelu_backward),
    "tanh": (tanh_forward, tanh_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "identity": (identity_forward, identity_backward),
}
# the torch module of each, the reference: ReferenceNet's activation, and what the checks hold ours to
TORCH_ACTIVATIONS = {
    "relu": nn.ReLU, "gelu": nn.GELU, "gelu_tanh": lambda: nn.GELU(approximate="tanh"), "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU, "identity": nn.Identity,
}
# the activations whose backward reads the input x (their derivative is not a function of y alone):
# for these the fused kernels save the pre-activation z beside h
BACKWARD_READS_INPUT = ("gelu", "gelu_tanh")


# ----------------------------------------------------------------------------------------------
# Cross-entropy over softmax: SimpleNet's loss, class indices and the mean over the batch, written out
# here. Every other option of F.cross_entropy (class weights, label smoothing, probability targets, the
# other reductions, (C,) and (N, C, d1..dk) inputs) is written out in cross_entropy_general.py; the
# two functions below take F.cross_entropy's signature and hand those cases over to it.

class _General(tuple):
    """The cache of a case cross_entropy_general.py computed; cross_entropy_backward hands it back there."""


def cross_entropy_forward(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                          ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0):
    """Mean loss of `logits` (N, C) against class indices `target` (N,), as F.cross_entropy(logits, target).

    Row i's loss is  ℓ_i = -log softmax(z_i)[y_i] = log Σ_c exp(z_i[c]) - z_i[y_i],  and the loss is
    their mean over the K rows whose target is not `ignore_index` (torch's default -100 marks padding
    or unlabelled samples); with K = 0 it is 0/0 = NaN, as in torch. log softmax is computed as
    z - max(z) - log Σ exp(z - max(z)): the largest exponent is e⁰ = 1, so no exp overflows.
    """
    if not (weight is None and reduction == "mean" and label_smoothing == 0.0 and isinstance(logits, torch.Tensor)
            and logits.dim() == 2 and isinstance(target, torch.Tensor) and not target.is_floating_point()):
        from . import cross_entropy_general as CEG
        loss, cache = CEG.cross_entropy_forward(logits, target, weight, ignore_index, reduction, label_smoothing)
        return loss, _General(cache)
    require_float("logits", logits)
    y, keep = class_indices(target, logits, (logits.shape[0],), ignore_index)  # (N,), (N,) 1.0 / 0.0
    shifted = logits - logits.amax(dim=1, keepdim=True)           # (N, C), max entry 0
    logp = shifted - shifted.exp().sum(dim=1, keepdim=True).log()  # (N, C) log softmax
    count = keep.sum()                                            # K
    loss = -(logp.gather(1, y[:, None]).squeeze(1) * keep).sum() / count
    return loss, (logp, y, keep, count)


def cross_entropy_backward(dloss: torch.Tensor, cache) -> torch.Tensor:
    """dlogits (N, C) from dloss (0-dim).

    With p = softmax(z_i):  ∂ log p[c] / ∂z[j] = 1[c = j] - p[j],  so  ∂ℓ_i/∂z_i = p - onehot(y_i),
    the probabilities less one at the true class. The mean scales each kept row by dloss / K. An
    ignored row gets exactly 0, as in torch - also when every row is ignored and 1 / K is not finite.
    """
    if isinstance(cache, _General):
        from . import cross_entropy_general as CEG
        return CEG.cross_entropy_backward(dloss, cache)
    logp, y, keep, count = cache
    require_grad_like("dloss", dloss, (), logp)
    onehot = torch.zeros_like(logp).scatter_(1, y[:, None], 1.0)   # (N, C)
    grad = (logp.exp() - onehot) * (dloss / count)                # (N, C)
    return torch.where(keep[:, None] > 0, grad, 0)                # 0 · (1 / 0) would be NaN


INTEGER_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def class_indices(target: torch.Tensor, logits: torch.Tensor, shape: tuple[int, ...], ignore_index: int):
    """Check class-index targets of `shape` against logits of C = logits.shape[1] classes (or [-1] for
    one sample). Returns the targets as (M,) int64 with ignored ones set to class 0 (any valid index:
    the caller masks them), and the mask of kept rows as (M,) 1.0 / 0.0 in logits' dtype."""
    require_tensor("target", target)
    if target.dtype not in INTEGER_DTYPES:
        raise TypeError(f"target: expected class indices (an integer tensor) or "
                        f"probabilities (a float tensor), got dtype {target.dtype}")
    if tuple(target.shape) != tuple(shape):
        raise ValueError(f"target: expected class indices of shape {tuple(shape)}, got {tuple(target.shape)}")
    if target.device != logits.device:
        raise ValueError(f"target: expected device {logits.device} (that of logits), got {target.device}")
    c = logits.shape[-1] if logits.dim() == 1 else logits.shape[1]
    y = target.reshape(-1).long()                                 # (M,)
    keep = y != ignore_index                                      # (M,)
    if not torch.compiler.is_compiling() and y.numel():           # a value check cannot be traced
        lo, hi = torch.aminmax(y)                                 # one reduction on the common path
        if lo.item() < 0 or hi.item() >= c:
            bad = keep & ((y < 0) | (y >= c))
            if bool(bad.any()):
                raise ValueError(f"target: class indices must lie in [0, {c}) or equal "
                                 f"ignore_index={ignore_index}, got {y[bad][0].item()}")
    return torch.where(keep, y, 0), keep.to(logits.dtype)
