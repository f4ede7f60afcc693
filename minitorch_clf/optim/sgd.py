"""SGD with momentum, dampening, Nesterov and weight decay, as torch.optim.SGD: the update written
to be read (`_sgd_loop`), over all tensors at once (`_sgd_foreach`) and as one fused call."""
from __future__ import annotations

import torch
from torch.optim import Optimizer

from .common import (check_fused, check_lr, check_modes, check_nonneg, contiguous_update, grad_mode,
                     groups_with_grads, hyper, load_fused_kernels, loss_of, scalar)


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum, as in torch.optim.SGD.

    For each parameter θ with gradient g, learning rate γ, momentum μ, dampening τ, weight decay λ:
        g ← -g                              if maximize
        g ← g + λ θ                         if λ ≠ 0   (L2 penalty folded into the gradient)
        if μ ≠ 0:
            b ← g                           on the first step (no dampening applied to it)
            b ← μ b + (1 - τ) g             afterwards
            g ← g + μ b                     if nesterov, else g ← b
        θ ← θ - γ g
    State: `momentum_buffer` (only when μ ≠ 0).
    """

    def __init__(self, params, lr: float | torch.Tensor = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float | torch.Tensor = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None):
        check_lr(lr, foreach, capturable=None)
        check_nonneg("momentum value", momentum)
        check_nonneg("weight_decay value", scalar(weight_decay))
        check_modes(fused, differentiable)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening "
                             f"(got momentum={momentum}, dampening={dampening})")
        check_fused(fused, foreach)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach, fused=fused,
                        differentiable=differentiable)
        super().__init__(params, defaults)
        if fused:
            load_fused_kernels(self)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("fused", None)
            group.setdefault("differentiable", False)

    def step(self, closure=None):
        loss = loss_of(closure)
        with grad_mode(self):
            for group, params in groups_with_grads(self):
                bufs = [self.state[p].get("momentum_buffer") for p in params]
                update = _sgd_fused if group["fused"] else \
                    _sgd_loop if group["foreach"] is False or group["differentiable"] else _sgd_foreach
                update(params, [p.grad for p in params], bufs, hyper(group, "lr", "weight_decay"))
                if group["momentum"] != 0:
                    for p, b in zip(params, bufs):
                        self.state[p]["momentum_buffer"] = b
        return loss


def _sgd_loop(params, grads, bufs, group) -> None:
    """One tensor at a time; `bufs` is filled in place with new buffers on the first step.
    Differentiable: the first buffer is a copy that keeps its history (torch detaches it), and a
    product that saves the buffer for the backward saves a copy, which the next step's in-place
    update of the buffer cannot overwrite."""
    lr, mu, tau, wd = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
    diff = group["differentiable"]
    for i, p in enumerate(params):
        g = -grads[i] if group["maximize"] else grads[i]
        if isinstance(wd, torch.Tensor) and wd.requires_grad:
            g = g + wd * p.clone()                  # a copy: p is updated in place below
        elif wd != 0:
            g = g.add(p, alpha=scalar(wd))
        if mu != 0:
            if bufs[i] is None:
                bufs[i] = g.clone() if diff else torch.clone(g).detach()
            else:
                bufs[i].mul_(mu).add_(g, alpha=1 - tau)
            g = g.add(bufs[i], alpha=mu) if group["nesterov"] else bufs[i].clone() if diff else bufs[i]
        if isinstance(lr, torch.Tensor) and lr.requires_grad:
            p.sub_(g * lr)
        else:
            p.add_(g, alpha=-scalar(lr))


def _sgd_foreach(params, grads, bufs, group) -> None:
    """The same update, each line over the whole list of tensors."""
    lr, mu, tau, wd = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
    if group["maximize"]:
        grads = torch._foreach_neg(grads)
    if wd != 0:
        grads = torch._foreach_add(grads, params, alpha=wd)
    if mu != 0:
        if all(b is not None for b in bufs):
            torch._foreach_mul_(bufs, mu)
            torch._foreach_add_(bufs, grads, alpha=1 - tau)
        else:                                   # first step: buffers start as a copy of g
            for i, b in enumerate(bufs):
                if b is None:
                    bufs[i] = torch.clone(grads[i]).detach()
                else:
                    b.mul_(mu).add_(grads[i], alpha=1 - tau)
        grads = torch._foreach_add(grads, bufs, alpha=mu) if group["nesterov"] else bufs
    torch._foreach_add_(params, grads, alpha=-scalar(lr))


def _sgd_fused(params, grads, bufs, group) -> None:
    """The same update in one call of the custom op `sgd_update_` (kernels/cpu/optimizer.cpp)."""
    op = torch.ops.minitorch_clf.sgd_update_
    args = (scalar(group["lr"]), group["momentum"], group["dampening"], group["weight_decay"], group["nesterov"],
            group["maximize"])
    if group["momentum"] == 0:
        contiguous_update(op, (params, grads, []), *args, False)
        return
    new = [i for i, b in enumerate(bufs) if b is None]
    for i in new:
        bufs[i] = torch.empty_like(params[i])
    for first, idx in ((True, new), (False, [i for i in range(len(params)) if i not in set(new)])):
        if idx:
            contiguous_update(op, ([params[i] for i in idx], [grads[i] for i in idx], [bufs[i] for i in idx]),
                               *args, first)
