"""The maths of SimpleNet, written out: forward and backward of Linear, every activation and cross-entropy.

Shape legend:  N = batch,  I = in_features,  O = out_features,  C = classes.
Activations: relu, gelu (exact and tanh), tanh, sigmoid, leaky_relu, identity - `ACTIVATIONS` maps
the names `--activation` takes to their forward and backward.

Every `*_forward` returns `(out, cache)`; every `*_backward` takes the upstream gradient and that
cache and returns the gradients of the forward's inputs. No autograd is used: these functions work
under `torch.no_grad()` on tensors that do not require grad, and each backward's docstring derives
the rule it implements. The checks in `checks.py` hold every one of them against autograd and
against finite differences.
"""
from __future__ import annotations

import math

import torch

from .errors import expect_one_of
from .validate import require_float, require_grad_like, require_like, require_rank, require_tensor

REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------------------------------
# Linear:  y = x Wᵀ + b

def linear_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None):
    """y = x Wᵀ + b.   x: (*, I),  weight: (O, I),  bias: (O,) or None  ->  y: (*, O).

    Any leading dimensions (none for one sample) are batch dimensions, as in torch.nn.functional.linear.
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
    if bias is not None and x.dim() == 2:
        out = torch.addmm(bias, x, weight.T)                      # (O,) + (N, I)·(I, O), one call
    else:
        out = x @ weight.T                                        # (*, O)
        if bias is not None:
            out = out + bias
    return out, (x, weight, bias is not None)


def linear_backward(dout: torch.Tensor, cache, need_dx: bool = True):
    """Gradients of y = x Wᵀ + b.   dout: like y (*, O)  ->  dx: like x, dweight: (O, I), dbias: (O,) or None.

    Element-wise y[n,o] = Σ_i x[n,i] W[o,i] + b[o] (n running over every leading index), so
        ∂L/∂x[n,i] = Σ_o dout[n,o] W[o,i]      ->  dx = dout · W
        ∂L/∂W[o,i] = Σ_n dout[n,o] x[n,i]      ->  dW = doutᵀ · x   (x, dout flattened to (-1, I), (-1, O))
        ∂L/∂b[o]   = Σ_n dout[n,o]             ->  db = dout summed over every leading index
    `need_dx=False` skips dx (the first layer's input needs no gradient) and returns None for it.
    """
    x, weight, has_bias = cache
    require_grad_like("dout", dout, (*x.shape[:-1], weight.shape[0]), x)
    m = math.prod(x.shape[:-1])                                   # M rows (explicit: I or O may be 0)
    x2, dout2 = x.reshape(m, x.shape[-1]), dout.reshape(m, dout.shape[-1])    # (M, I), (M, O)
    dx = (dout @ weight) if need_dx else None                     # (*, O)·(O, I) = (*, I)
    dweight = dout2.T @ x2                                        # (O, M)·(M, I) = (O, I)
    dbias = dout2.sum(0) if has_bias else None                    # (O,)
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


# ----------------------------------------------------------------------------------------------
# Cross-entropy over softmax, every option of torch.nn.functional.cross_entropy

def cross_entropy_forward(
    logits: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
):
    """Loss of `logits` (N, C), (C,) or (N, C, d1, ..., dk) against class indices (N,), () or
    (N, d1, ..., dk), or against probabilities shaped like logits - torch's cross_entropy, every option.

    The extra dimensions d1..dk are positions (pixels, tokens), each its own sample: logits are moved
    to (N, d1.., dk, C) and flattened to M = N·d1···dk rows of C, the targets to M. Over those rows
    every variant torch offers is one formula. Each sample i gets a non-negative row of coefficients
    a[i, c] and the loss is  ℓ_i = -Σ_c a[i,c] · log softmax(z_i)[c]:
      class targets y, weight w (all ones when None), smoothing ε:
          a[i,c] = (1-ε) w[y_i] 1[c = y_i] + (ε/C) w[c],   and a[i] = 0 when y_i == ignore_index
      probability targets t (ignore_index does not apply, as in torch):
          a[i,c] = w[c] ((1-ε) t[i,c] + ε/C)
    Reduction "sum" adds the ℓ_i, "none" returns them shaped like the targets, "mean" divides the sum by D:
      class targets: D = Σ_{i not ignored} w[y_i]   (the weighted count torch uses; NaN if 0)
      probability targets: D = M
    log softmax is computed as z - max(z) - log Σ exp(z - max(z)), finite for any finite z.
    """
    require_float("logits", logits)
    if logits.dim() == 0:
        raise ValueError("logits: expected shape (N, C), (C,) or (N, C, d1, ..., dk), got ()")
    require_tensor("target", target)
    expect_one_of("reduction", reduction, REDUCTIONS)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing: expected a value in [0, 1], got {label_smoothing}")
    unbatched = logits.dim() == 1
    c = logits.shape[-1] if unbatched else logits.shape[1]
    sample_shape = () if unbatched else (logits.shape[0], *logits.shape[2:])   # (N, d1, ..., dk)
    z = _rows(logits, c)                                          # (M, C)
    if weight is not None:
        require_float("weight", weight)
        require_like("weight", weight, "logits", logits)
        if tuple(weight.shape) != (c,):
            raise ValueError(f"weight: expected shape ({c},) (one per class), got {tuple(weight.shape)}")

    keep = None
    if target.is_floating_point():                                # probabilities, like logits
        if target.shape != logits.shape:
            raise ValueError(
                f"target: probability targets must have the shape of logits {tuple(logits.shape)}, "
                f"got {tuple(target.shape)}"
            )
        if ignore_index != -100:
            raise ValueError(f"ignore_index: not supported with probability targets, got {ignore_index}")
        require_like("target", target, "logits", logits)
        t = _rows(target, c)                                      # (M, C)
        a = t * (1 - label_smoothing) + label_smoothing / c if label_smoothing > 0 else t
        if weight is not None:
            a = a * weight                                        # (M, C) * (C,)
        denom = z.shape[0]
    else:
        if target.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            raise TypeError(f"target: expected class indices (an integer tensor) or "
                            f"probabilities (a float tensor), got dtype {target.dtype}")
        if tuple(target.shape) != sample_shape:
            raise ValueError(f"target: expected class indices of shape {sample_shape}, got {tuple(target.shape)}")
        if target.device != logits.device:
            raise ValueError(f"target: expected device {logits.device} (that of logits), got {target.device}")
        y = target.reshape(-1).long()                             # (M,)
        keep = y != ignore_index                                  # (M,)
        if not torch.compiler.is_compiling():                    # a value check cannot be traced
            _check_class_range(y, keep, c, ignore_index)
        y_safe = torch.where(keep, y, 0)                          # any valid index; masked below
        keep = keep.to(z.dtype)                                   # 1.0 / 0.0, so no float32 promotion
        w_y = keep if weight is None else weight[y_safe] * keep   # (M,) w[y_i], 0 where ignored
        a = torch.zeros_like(z).scatter_(1, y_safe[:, None], ((1 - label_smoothing) * w_y)[:, None])
        if label_smoothing > 0:
            smooth = keep[:, None] * (label_smoothing / c)        # (M, 1)
            a += smooth if weight is None else smooth * weight    # (M, C)
        denom = w_y.sum()

    shifted = z - z.amax(dim=1, keepdim=True)                     # (M, C), max entry 0
    logsumexp = shifted.exp().sum(dim=1, keepdim=True).log()      # (M, 1)
    logp = shifted - logsumexp                                    # (M, C) log softmax
    per_sample = -(a * logp).sum(dim=1)                           # (M,)

    if reduction == "mean":
        loss = per_sample.sum() / denom
    elif reduction == "sum":
        loss = per_sample.sum()
    else:
        loss = per_sample.reshape(sample_shape)                   # like the class targets
    cache = (logp.exp(), a, denom, reduction, keep, tuple(logits.shape), sample_shape)
    return loss, cache


def _rows(t: torch.Tensor, c: int) -> torch.Tensor:
    """(C,) -> (1, C); (N, C) as is; (N, C, d1, ..., dk) -> (N·d1···dk, C), the class axis last."""
    if t.dim() == 1:
        return t.unsqueeze(0)
    if t.dim() == 2:
        return t
    return t.movedim(1, -1).reshape(-1, c)


def _unrows(g: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """The inverse of _rows: (M, C) back to `shape`."""
    if len(shape) <= 2:
        return g.reshape(shape)
    return g.reshape(shape[0], *shape[2:], shape[1]).movedim(-1, 1)


def _check_class_range(y: torch.Tensor, keep: torch.Tensor, c: int, ignore_index: int) -> None:
    """Every kept target in [0, C). One min/max reduction on the common path; the mask only on failure."""
    if y.numel() == 0:
        return
    lo, hi = torch.aminmax(y)
    if lo.item() < 0 or hi.item() >= c:
        bad = keep & ((y < 0) | (y >= c))
        if bool(bad.any()):
            raise ValueError(f"target: class indices must lie in [0, {c}) or equal "
                             f"ignore_index={ignore_index}, got {y[bad][0].item()}")


def cross_entropy_backward(dloss: torch.Tensor, cache) -> torch.Tensor:
    """dlogits, shaped like logits, from dloss (0-dim; shaped like the class targets for "none").

    With p = softmax(z_i) and ℓ_i = -Σ_c a[i,c] log p[c]:  ∂ log p[c] / ∂z[j] = 1[c = j] - p[j], so
        ∂ℓ_i/∂z[i,j] = -a[i,j] + p[j] Σ_c a[i,c] = A_i p[i,j] - a[i,j],   A_i = Σ_c a[i,c].
    For one-hot targets without smoothing A_i = w[y_i]: the familiar (p - onehot) scaled by the weight.
    Reductions scale each row by dloss / D ("mean"), dloss ("sum") or dloss[i] ("none"). A row whose
    target is ignore_index gets exactly 0, as in torch - also when every row is ignored and D = 0, where
    the scale 1 / D is not finite.
    """
    p, a, denom, reduction, keep, logits_shape, sample_shape = cache
    require_grad_like("dloss", dloss, sample_shape if reduction == "none" else (), p)
    grad = a.sum(dim=1, keepdim=True) * p - a                     # (M, C)
    if reduction == "mean":
        grad = grad * (dloss / denom)
    elif reduction == "sum":
        grad = grad * dloss
    else:
        grad = grad * dloss.reshape(-1, 1)                        # (M, 1)
    if keep is not None and reduction == "mean":
        grad = torch.where(keep[:, None] > 0, grad, 0)            # 0 · (1 / 0) would be NaN
    return _unrows(grad, logits_shape)
