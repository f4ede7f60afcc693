"""The maths of SimpleNet, written out: forward and backward of Linear, ReLU and cross-entropy.

Shape legend:  N = batch,  I = in_features,  O = out_features,  C = classes.

Every `*_forward` returns `(out, cache)`; every `*_backward` takes the upstream gradient and that
cache and returns the gradients of the forward's inputs. No autograd is used: these functions work
under `torch.no_grad()` on tensors that do not require grad, and each backward's docstring derives
the rule it implements. The checks in `checks.py` hold every one of them against autograd and
against finite differences.
"""
from __future__ import annotations

import torch

from .validate import require_float, require_like, require_rank, require_tensor

REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------------------------------
# Linear:  y = x Wᵀ + b

def linear_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None):
    """y = x Wᵀ + b.   x: (N, I) or (I,),  weight: (O, I),  bias: (O,) or None  ->  y: (N, O) or (O,)."""
    require_float("weight", weight)
    require_rank("weight", weight, (2,), "(out_features, in_features)")
    require_float("x", x)
    require_rank("x", x, (1, 2), f"(N, {weight.shape[1]}) or ({weight.shape[1]},)")
    require_like("x", x, "weight", weight)
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"x: expected last dimension in_features={weight.shape[1]} (weight is "
            f"{tuple(weight.shape)}), got x of shape {tuple(x.shape)}"
        )
    if bias is not None:
        require_float("bias", bias)
        require_like("bias", bias, "weight", weight)
        if tuple(bias.shape) != (weight.shape[0],):
            raise ValueError(f"bias: expected shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    if bias is not None and x.dim() == 2:
        out = torch.addmm(bias, x, weight.T)                      # (O,) + (N, I)·(I, O), one call
    else:
        out = x @ weight.T                                        # (N, O)
        if bias is not None:
            out = out + bias
    return out, (x, weight, bias is not None)


def linear_backward(dout: torch.Tensor, cache, need_dx: bool = True):
    """Gradients of y = x Wᵀ + b.   dout: like y  ->  dx: like x, dweight: (O, I), dbias: (O,) or None.

    Element-wise y[n,o] = Σ_i x[n,i] W[o,i] + b[o], so
        ∂L/∂x[n,i] = Σ_o dout[n,o] W[o,i]      ->  dx = dout · W
        ∂L/∂W[o,i] = Σ_n dout[n,o] x[n,i]      ->  dW = doutᵀ · x
        ∂L/∂b[o]   = Σ_n dout[n,o]             ->  db = dout summed over the batch
    `need_dx=False` skips dx (the first layer's input needs no gradient) and returns None for it.
    """
    x, weight, has_bias = cache
    x2, dout2 = x.reshape(-1, x.shape[-1]), dout.reshape(-1, dout.shape[-1])  # unbatched -> (1, ·)
    dx = (dout @ weight) if need_dx else None                     # (N, O)·(O, I) = (N, I)
    dweight = dout2.T @ x2                                        # (O, N)·(N, I) = (O, I)
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
    (a boolean mask costs 5-8x more than this whole product on a 2-core CPU).
    """
    return dout * cache.sign()


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
    """Loss of `logits` (N, C) or (C,) against class indices (N,) / () or probabilities like logits.

    Every variant torch offers is one formula. Each sample i gets a non-negative row of
    coefficients a[i, c] and the loss is  ℓ_i = -Σ_c a[i,c] · log softmax(z_i)[c]:
      class targets y, weight w (all ones when None), smoothing ε:
          a[i,c] = (1-ε) w[y_i] 1[c = y_i] + (ε/C) w[c],   and a[i] = 0 when y_i == ignore_index
      probability targets t:
          a[i,c] = w[c] ((1-ε) t[i,c] + ε/C)
    Reduction "sum" adds the ℓ_i, "none" returns them, "mean" divides the sum by D:
      class targets: D = Σ_{i not ignored} w[y_i]   (the weighted count torch uses; NaN if 0)
      probability targets: D = N
    log softmax is computed as z - max(z) - log Σ exp(z - max(z)), finite for any finite z.
    """
    require_float("logits", logits)
    require_rank("logits", logits, (1, 2), "(N, C) or (C,)")
    require_tensor("target", target)
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction: expected one of {REDUCTIONS}, got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing: expected a value in [0, 1], got {label_smoothing}")
    unbatched = logits.dim() == 1
    z = logits.unsqueeze(0) if unbatched else logits              # (N, C)
    n, c = z.shape
    if weight is not None:
        require_float("weight", weight)
        require_like("weight", weight, "logits", logits)
        if tuple(weight.shape) != (c,):
            raise ValueError(f"weight: expected shape ({c},) (one per class), got {tuple(weight.shape)}")

    if target.is_floating_point():                                # probabilities, like logits
        if target.shape != logits.shape:
            raise ValueError(
                f"target: probability targets must have the shape of logits {tuple(logits.shape)}, "
                f"got {tuple(target.shape)}"
            )
        require_like("target", target, "logits", logits)
        t = target.unsqueeze(0) if unbatched else target          # (N, C)
        a = t * (1 - label_smoothing) + label_smoothing / c if label_smoothing > 0 else t
        if weight is not None:
            a = a * weight                                        # (N, C) * (C,)
        denom = n
    else:
        if target.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
            raise TypeError(f"target: expected class indices (an integer tensor) or "
                            f"probabilities (a float tensor), got dtype {target.dtype}")
        want = () if unbatched else (n,)
        if tuple(target.shape) != want:
            raise ValueError(f"target: expected class indices of shape {want}, got {tuple(target.shape)}")
        if target.device != logits.device:
            raise ValueError(f"target: expected device {logits.device} (that of logits), got {target.device}")
        y = target.reshape(n).long()                              # (N,)
        keep = y != ignore_index                                  # (N,)
        if not torch.compiler.is_compiling():                    # a value check cannot be traced
            _check_class_range(y, keep, c, ignore_index)
        y_safe = torch.where(keep, y, 0)                          # any valid index; masked below
        keep = keep.to(z.dtype)                                   # 1.0 / 0.0, so no float32 promotion
        w_y = keep if weight is None else weight[y_safe] * keep   # (N,) w[y_i], 0 where ignored
        a = torch.zeros_like(z).scatter_(1, y_safe[:, None], ((1 - label_smoothing) * w_y)[:, None])
        if label_smoothing > 0:
            smooth = keep[:, None] * (label_smoothing / c)        # (N, 1)
            a += smooth if weight is None else smooth * weight    # (N, C)
        denom = w_y.sum()

    shifted = z - z.amax(dim=1, keepdim=True)                     # (N, C), max entry 0
    logsumexp = shifted.exp().sum(dim=1, keepdim=True).log()      # (N, 1)
    logp = shifted - logsumexp                                    # (N, C) log softmax
    per_sample = -(a * logp).sum(dim=1)                           # (N,)

    if reduction == "mean":
        loss = per_sample.sum() / denom
    elif reduction == "sum":
        loss = per_sample.sum()
    else:
        loss = per_sample[0] if unbatched else per_sample
    cache = (logp.exp(), a, denom, reduction, unbatched)
    return loss, cache


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
    """dlogits from dloss (0-dim; (N,) for reduction "none").

    With p = softmax(z_i) and ℓ_i = -Σ_c a[i,c] log p[c]:  ∂ log p[c] / ∂z[j] = 1[c = j] - p[j], so
        ∂ℓ_i/∂z[i,j] = -a[i,j] + p[j] Σ_c a[i,c] = A_i p[i,j] - a[i,j],   A_i = Σ_c a[i,c].
    For one-hot targets without smoothing A_i = w[y_i]: the familiar (p - onehot) scaled by the weight.
    Reductions scale each row by dloss / D ("mean"), dloss ("sum") or dloss[i] ("none").
    """
    p, a, denom, reduction, unbatched = cache
    grad = a.sum(dim=1, keepdim=True) * p - a                     # (N, C)
    if reduction == "mean":
        grad = grad * (dloss / denom)
    elif reduction == "sum":
        grad = grad * dloss
    else:
        grad = grad * dloss.reshape(-1, 1)                        # (N, 1), or (1, 1) unbatched
    return grad[0] if unbatched else grad
