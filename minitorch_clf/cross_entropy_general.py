"""Cross-entropy with every option of torch.nn.functional.cross_entropy: class weights, label
smoothing, probability targets, the reductions "mean", "sum" and "none", one sample (C,) and
(N, C, d1, ..., dk) inputs, `ignore_index`.

SimpleNet trains with the core case only (class indices, the mean), written out on its own in
functional.py; this general form gives the same bits there (tested), and is what layers.CrossEntropyLoss
runs when any option is set. PyTorch's own OpInfo samples of cross_entropy run against it
(tests/test_torch_samples.py).
"""
from __future__ import annotations

import torch

from .errors import expect_one_of
from .functional import class_indices
from .validate import require_float, require_grad_like, require_like, require_tensor

REDUCTIONS = ("mean", "sum", "none")


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
        y_safe, keep = class_indices(target, logits, sample_shape, ignore_index)   # (M,), (M,) 1.0 / 0.0
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
