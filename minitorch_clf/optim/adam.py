"""Adam and AdamW, as torch.optim.Adam and torch.optim.AdamW (amsgrad, capturable, differentiable,
fused), each update written to be read and over all tensors at once."""
from __future__ import annotations

import torch
from torch.optim import Optimizer

from .common import (check_betas, check_capturable, check_foreach_autograd, check_fused, check_lr, check_modes,
                     check_nonneg, contiguous_update, grad_mode, groups_with_grads, hyper, load_fused_kernels,
                     loss_of, new_step, scalar)


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), as in torch.optim.Adam; AdamW below decouples the weight decay.

    For each parameter θ with gradient g, step t (starting at 1), learning rate γ, betas β1, β2:
        g ← -g                                         if maximize
        θ ← θ (1 - γ λ)                                if decoupled (AdamW) and λ ≠ 0
        g ← g + λ θ                                    if not decoupled (Adam's L2) and λ ≠ 0
        m ← β1 m + (1 - β1) g                          (as m.lerp_(g, 1 - β1))
        v ← β2 v + (1 - β2) g²
        v̂max ← max(v̂max, v)                            if amsgrad (max of the *uncorrected* v)
        θ ← θ - γ/(1 - β1ᵗ) · m / (√v' / √(1 - β2ᵗ) + ε),   v' = v̂max if amsgrad else v
    m and v start at zero; the bias corrections 1 - βᵗ undo that start.
    State: `step` (a CPU scalar tensor; on the parameter's device where capturable), `exp_avg` (m),
    `exp_avg_sq` (v), `max_exp_avg_sq` (amsgrad).
    """

    decoupled_weight_decay = False

    def __init__(self, params, lr: float | torch.Tensor = 1e-3,
                 betas: tuple[float | torch.Tensor, float | torch.Tensor] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None, decoupled_weight_decay: bool = False):
        check_lr(lr, foreach, capturable)
        check_nonneg("epsilon value", eps)
        check_nonneg("weight_decay value", weight_decay)
        check_betas(betas, foreach, capturable)
        check_modes(fused, differentiable)
        check_fused(fused, foreach)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, fused=fused, capturable=capturable,
                        differentiable=differentiable,
                        decoupled_weight_decay=decoupled_weight_decay or self.decoupled_weight_decay)
        super().__init__(params, defaults)
        if fused:
            load_fused_kernels(self, complex_too=True)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("fused", None)
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)
            group["decoupled_weight_decay"] = group.get("decoupled_weight_decay", False) or self.decoupled_weight_decay
            for p in group["params"]:
                st = self.state.get(p, {})
                if "step" in st and not torch.is_tensor(st["step"]):
                    st["step"] = new_step(p, group["capturable"]) + float(st["step"])

    def _state(self, p: torch.Tensor, group: dict) -> dict:
        st = self.state[p]
        amsgrad = group["amsgrad"]
        needed = {"step", "exp_avg", "exp_avg_sq"} | ({"max_exp_avg_sq"} if amsgrad else set())
        if st and not needed <= set(st):
            raise ValueError(f"state: a parameter's state holds {sorted(st)}, not {sorted(needed)} - was the state "
                             f"dict loaded into this {type(self).__name__} made by another optimizer or options?")
        if not st:
            st["step"] = new_step(p, group["capturable"])
            st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if amsgrad:
                st["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return st

    def step(self, closure=None):
        loss = loss_of(closure)
        with grad_mode(self):
            for group, params in groups_with_grads(self):
                states = [self._state(p, group) for p in params]
                grads = [p.grad for p in params]
                if any(p.is_complex() for p in params):            # as torch does: a complex number is two reals
                    params, grads, states = _as_real(params, grads, states)
                check_foreach_autograd(group)
                # capturable with fused: the fused kernels on the CPU (nothing to capture there; torch runs
                # its fused kernel too), the capturable path on a GPU (the fused kernels read the step)
                if group["differentiable"] or (group["capturable"] and not (group["fused"] and not params[0].is_cuda)):
                    update = _adam_tensors
                else:
                    update = _adam_fused if group["fused"] else _adam_loop if group["foreach"] is False else _adam_foreach
                update(params, grads, states, hyper(group, "lr", "betas"))
        return loss


def _as_real(params, grads, states):
    """Complex tensors viewed as (..., 2) real ones (views: the update lands in the originals). Adam's
    g² then squares the real and imaginary parts apart, which is torch.optim's rule for complex params."""
    real = lambda t: torch.view_as_real(t) if t.is_complex() else t
    states = [{k: (v if k == "step" else real(v)) for k, v in st.items()} for st in states]
    return [real(p) for p in params], [real(g) for g in grads], states


def _adam_loop(params, grads, states, group) -> None:
    lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
    for p, g, st in zip(params, grads, states):
        g = -g if group["maximize"] else g
        st["step"] += 1
        if wd != 0:
            if group["decoupled_weight_decay"]:
                p.mul_(scalar(1 - lr * wd))
            else:
                g = g.add(p, alpha=wd)
        m, v = st["exp_avg"], st["exp_avg_sq"]
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        t = st["step"].item()
        step_size = scalar(lr / (1 - beta1**t))
        bias_correction2_sqrt = (1 - beta2**t) ** 0.5
        if group["amsgrad"]:
            torch.maximum(st["max_exp_avg_sq"], v, out=st["max_exp_avg_sq"])
            v = st["max_exp_avg_sq"]
        denom = (v.sqrt() / bias_correction2_sqrt).add_(eps)
        p.addcdiv_(m, denom, value=-step_size)


def _adam_foreach(params, grads, states, group) -> None:
    lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
    ms = [st["exp_avg"] for st in states]
    vs = [st["exp_avg_sq"] for st in states]
    steps = [st["step"] for st in states]
    if group["maximize"]:
        grads = torch._foreach_neg(grads)
    torch._foreach_add_(steps, 1)
    if wd != 0:
        if group["decoupled_weight_decay"]:
            torch._foreach_mul_(params, scalar(1 - lr * wd))
        else:
            grads = torch._foreach_add(grads, params, alpha=wd)
    torch._foreach_lerp_(ms, grads, 1 - beta1)
    torch._foreach_mul_(vs, beta2)
    torch._foreach_addcmul_(vs, grads, grads, 1 - beta2)
    ts = [s.item() for s in steps]
    step_sizes = [-scalar(lr / (1 - beta1**t)) for t in ts]
    bias_correction2_sqrt = [(1 - beta2**t) ** 0.5 for t in ts]
    if group["amsgrad"]:
        vmax = [st["max_exp_avg_sq"] for st in states]
        torch._foreach_maximum_(vmax, vs)
        vs = vmax
    denom = torch._foreach_sqrt(vs)
    torch._foreach_div_(denom, bias_correction2_sqrt)
    torch._foreach_add_(denom, eps)
    torch._foreach_addcdiv_(params, ms, denom, step_sizes)


def _adam_fused(params, grads, states, group) -> None:
    """The same update in one call of the custom op `adam_update_` (kernels/cpu/optimizer.cpp)."""
    lr, beta1, beta2, *rest = fused_hyper(group)
    for st in states:
        st["step"] += 1
    ts = [st["step"].item() for st in states]
    contiguous_update(torch.ops.minitorch_clf.adam_update_, (params, grads, *fused_state(states, group)),
                      [lr / (1 - beta1**t) for t in ts], [(1 - beta2**t) ** 0.5 for t in ts], lr, beta1, beta2, *rest)


def fused_state(states, group) -> tuple[list, list, list]:
    """The fused ops' state lists (exp_avgs, exp_avg_sqs, max_exp_avg_sqs: empty without amsgrad), in the
    parameters' order."""
    return ([st["exp_avg"] for st in states], [st["exp_avg_sq"] for st in states],
            [st["max_exp_avg_sq"] for st in states] if group["amsgrad"] else [])


def fused_hyper(group) -> tuple:
    """The fused ops' scalars: lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize. A Tensor lr
    or betas are read as numbers: the kernels compute in double, as torch's fused kernel does."""
    lr, (beta1, beta2) = scalar(group["lr"]), map(scalar, group["betas"])
    return (lr, beta1, beta2, group["eps"], group["weight_decay"], group["decoupled_weight_decay"], group["amsgrad"],
            group["maximize"])


def _adam_tensors(params, grads, states, group) -> None:
    """capturable=True or differentiable=True: the update above with the step count, the bias corrections
    and a Tensor lr or betas kept as tensors, one tensor at a time. Nothing is read back to the host
    (capturable: a CUDA graph replays it, each replay advancing the step count on the GPU), and autograd
    records each operation (differentiable); what a later step updates in place (m, v, v̂max) enters the
    graph as a copy. The formula of _adam_loop, but the bias corrections come out in the step count's
    dtype (float32 unless the default dtype is float64), as in torch's capturable path: 2e-8 relative
    from the loop's."""
    lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
    diff = group["differentiable"]
    for p, g, st in zip(params, grads, states):
        if group["capturable"]:
            check_capturable(p, st["step"])
        g = -g if group["maximize"] else g
        st["step"] += 1                                                  # in place, where it lives
        t = st["step"]
        if wd != 0:
            if group["decoupled_weight_decay"]:
                p.mul_(1 - lr * wd)
            else:
                g = g.add(p, alpha=wd)
        m, v = st["exp_avg"], st["exp_avg_sq"]
        m.lerp_(g, 1 - beta1)
        if isinstance(beta2, torch.Tensor):
            v.mul_(beta2).add_(g * g * (1 - beta2))
        else:
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        if group["amsgrad"]:
            vmax = st["max_exp_avg_sq"]
            vmax.copy_(torch.maximum(vmax.clone(), v.clone()) if diff else torch.maximum(vmax, v))
            v = vmax
        # θ - s m / (√v / √(1 - β2ᵗ) + ε) with s = γ / (1 - β1ᵗ), as θ + m / D where
        # D = √v / (√(1 - β2ᵗ) · -s) + ε / -s: torch's arrangement, so that the bias corrections, computed
        # in the step count's dtype (float32: t is a tensor now), round where torch's do (5e-11 apart else)
        neg_step = -(lr / (1 - beta1**t))
        denom = v.sqrt() / ((1 - beta2**t).sqrt() * neg_step) + eps / neg_step
        p.addcdiv_(m.clone() if diff else m, denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): θ ← θ(1 - γλ) before the update."""

    decoupled_weight_decay = True

    def __init__(self, params, lr: float | torch.Tensor = 1e-3,
                 betas: tuple[float | torch.Tensor, float | torch.Tensor] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, foreach=foreach,
                         capturable=capturable, differentiable=differentiable, fused=fused)
