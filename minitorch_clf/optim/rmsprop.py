"""RMSprop, as torch.optim.RMSprop (centered, momentum, capturable, differentiable)."""
from __future__ import annotations

import torch
from torch.optim import Optimizer

from .common import (check_capturable, check_foreach_autograd, check_lr, check_nonneg, grad_mode, groups_with_grads,
                     hyper, loss_of, new_step, scalar)


class RMSprop(Optimizer):
    r"""RMSprop (Hinton, 2012), as in torch.optim.RMSprop.

    For each parameter θ with gradient g, learning rate γ, smoothing α, momentum μ, weight decay λ:
        g ← -g                                   if maximize
        g ← g + λ θ                              if λ ≠ 0
        v ← α v + (1 - α) g²                     the running mean of g²
        ḡ ← α ḡ + (1 - α) g                      if centered (as ḡ.lerp_(g, 1 - α))
        d ← √(v - ḡ²) + ε  if centered, else √v + ε
        b ← μ b + g / d,  θ ← θ - γ b            if μ > 0
        θ ← θ - γ g / d                          otherwise
    State: `step`, `square_avg` (v), `momentum_buffer` (μ > 0), `grad_avg` (centered).
    No fused kernel: fused=True is refused by name (the fused engine then says so).
    """

    def __init__(self, params, lr: float | torch.Tensor = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False,
                 fused: bool | None = None):
        if fused:
            raise ValueError("fused=True: RMSprop has no fused kernel here (use the foreach default or foreach=False)")
        check_lr(lr, foreach, capturable)
        check_nonneg("epsilon value", eps)
        check_nonneg("momentum value", momentum)
        check_nonneg("weight_decay value", weight_decay)
        check_nonneg("alpha value", alpha)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, foreach=foreach, maximize=maximize, capturable=capturable,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)

    def _state(self, p: torch.Tensor, group: dict) -> dict:
        st = self.state[p]
        if not st:
            st["step"] = new_step(p, group["capturable"])
            st["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["momentum"] > 0:
                st["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["centered"]:
                st["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return st

    def step(self, closure=None):
        loss = loss_of(closure)
        with grad_mode(self):
            for group, params in groups_with_grads(self):
                states = [self._state(p, group) for p in params]
                check_foreach_autograd(group)
                loop = group["foreach"] is False or group["capturable"] or group["differentiable"]
                update = _rmsprop_loop if loop else _rmsprop_foreach
                update(params, [p.grad for p in params], states, hyper(group, "lr"))
        return loss


def _rmsprop_loop(params, grads, states, group) -> None:
    """One tensor at a time; also the capturable and differentiable path: a Tensor lr is then used as a
    tensor (nothing read back to the host, the graph kept), and what a later step updates in place
    (the running mean of g) enters the graph as a copy."""
    lr, alpha, eps, wd, mu = group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"]
    diff = group["differentiable"]
    tensor_lr = isinstance(lr, torch.Tensor) and (lr.requires_grad or group["capturable"])
    for p, g, st in zip(params, grads, states):
        if group["capturable"]:
            check_capturable(p, st["step"])
        g = -g if group["maximize"] else g
        st["step"] += 1
        if wd != 0:
            g = g.add(p, alpha=wd)
        v = st["square_avg"]
        v.mul_(alpha).addcmul_(g, g, value=1 - alpha)
        if group["centered"]:
            st["grad_avg"].lerp_(g, 1 - alpha)
            mean = st["grad_avg"].clone() if diff else st["grad_avg"]
            d = v.addcmul(mean, mean, value=-1).sqrt() + eps
        else:
            d = v.sqrt() + eps                        # out of place: sqrt's backward reads its output
        if mu > 0:
            buf = st["momentum_buffer"]
            buf.mul_(mu).addcdiv_(g, d)
            if tensor_lr:
                p.sub_((buf.clone() if diff else buf) * lr)
            else:
                p.add_(buf, alpha=-scalar(lr))
        elif tensor_lr:
            p.sub_(g / d * lr)
        else:
            p.addcdiv_(g, d, value=-scalar(lr))


def _rmsprop_foreach(params, grads, states, group) -> None:
    """The same update, each line over the whole list of tensors."""
    lr, alpha, eps, wd, mu = group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"]
    if group["maximize"]:
        grads = torch._foreach_neg(grads)
    torch._foreach_add_([st["step"] for st in states], 1)
    if wd != 0:
        grads = torch._foreach_add(grads, params, alpha=wd)
    vs = [st["square_avg"] for st in states]
    torch._foreach_mul_(vs, alpha)
    torch._foreach_addcmul_(vs, grads, grads, value=1 - alpha)
    if group["centered"]:
        gs = [st["grad_avg"] for st in states]
        torch._foreach_lerp_(gs, grads, 1 - alpha)
        d = torch._foreach_addcmul(vs, gs, gs, value=-1)
        torch._foreach_sqrt_(d)
    else:
        d = torch._foreach_sqrt(vs)
    torch._foreach_add_(d, eps)
    if mu > 0:
        bufs = [st["momentum_buffer"] for st in states]
        torch._foreach_mul_(bufs, mu)
        torch._foreach_addcdiv_(bufs, grads, d)
        torch._foreach_add_(params, bufs, alpha=-scalar(lr))
    else:
        torch._foreach_addcdiv_(params, grads, d, value=-scalar(lr))
