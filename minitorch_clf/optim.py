"""SGD, Adam, AdamW and RMSprop written out, with torch.optim's signatures, defaults and state layout.

They subclass `torch.optim.Optimizer`, so param groups, LR schedulers, `zero_grad` and
`state_dict` behave as users expect, and a state dict moves between ours and torch's both ways.
Each update exists up to three times: a per-tensor loop written to be read (`foreach=False`), a
multi-tensor path on `torch._foreach_*` (the default) that does the same operations in the same
order over all tensors at once, so the two agree to the last bit in practice, and `fused=True`, one
call of this project's custom op over all tensors (kernels/cpu/optimizer.cpp, built on first use;
SGD, Adam and AdamW). `REGISTRY` at the end names them for the command line.
Nothing here calls torch.optim's own update functions.

torch.optim's two special modes, as torch defines them:
- `differentiable=True`: step() runs with autograd on, and every update is written with operations
  autograd can go back through (no value read back as a Python number on the way, no tensor that a
  later step overwrites saved for the backward), so a loss after k steps can be differentiated with
  respect to the learning rate (a Tensor that requires grad), the starting weights or the gradients.
  A hypergradient (hypergradient.py) is the example.
- `capturable=True` (Adam, AdamW, RMSprop): the step count lives on the parameter's device and the
  bias corrections are computed there as tensors, so a step reads nothing back to the host and
  `torch.cuda.graph` can capture it; a replay then advances the step count on the GPU. As in torch,
  only for parameters on a device a CUDA graph captures (CAPTURABLE_DEVICES).
"""
from __future__ import annotations

import torch
from torch.optim import Optimizer


def _scalar_dtype() -> torch.dtype:
    # torch.optim keeps `step` as a CPU tensor of this dtype; we match so state dicts interchange
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _params_with_grad(group: dict) -> list[torch.Tensor]:
    """Parameters that received a gradient; one whose .grad is None is skipped, as in torch."""
    for p in group["params"]:
        if p.grad is not None and p.grad.is_sparse:
            raise RuntimeError("sparse gradients are not supported")
    return [p for p in group["params"] if p.grad is not None]


def _groups_with_grads(optimizer: Optimizer):
    """(group, its params that received a gradient) for each param group that has any, in order."""
    for group in optimizer.param_groups:
        params = _params_with_grad(group)
        if params:
            yield group, params


def _loss_of(closure):
    """What step(closure) returns: the closure's loss, evaluated with grad enabled (None without one)."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def _check_nonneg(name: str, value: float) -> None:
    if not 0.0 <= value:
        raise ValueError(f"Invalid {name}: {value} (expected >= 0)")


def _scalar(x) -> float:
    """A hyper-parameter (or an expression of one) given as a number or a 1-element Tensor (torch accepts
    both), as a Python number. A Tensor lr keeps its dtype through the arithmetic before it is read, as
    in torch: a float32 lr's step size is rounded to float32."""
    return x.item() if isinstance(x, torch.Tensor) else x


def _check_lr(lr, foreach, capturable: bool | None = False) -> None:
    """torch.optim's rules (and messages) for a Tensor lr (capturable=None: SGD, which has no such mode
    and takes a Tensor lr on every path); then lr >= 0."""
    if isinstance(lr, torch.Tensor):
        if lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if foreach and capturable is False:
            raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True")
    _check_nonneg("learning rate", _scalar(lr))


def _check_betas(betas, foreach, capturable: bool = False) -> None:
    tensors = [isinstance(b, torch.Tensor) for b in betas]
    if any(tensors) and not all(tensors):
        raise ValueError("betas must be either both floats or both Tensors")
    if tensors[0]:
        if foreach and not capturable:
            raise ValueError("betas[0] as a Tensor is not supported for capturable=False and foreach=True")
        for i, b in enumerate(betas):
            if b.numel() != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")
    for i, beta in enumerate(betas):
        if not 0.0 <= _scalar(beta) < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {_scalar(beta)} (expected in [0, 1))")


def _check_modes(fused, differentiable: bool) -> None:
    """fused=True with differentiable=True is refused, as torch refuses it."""
    if fused and differentiable:
        raise RuntimeError("`fused` does not support `differentiable`")


# Where capturable=True runs: the devices whose steps a graph captures (torch's rule: it refuses the
# CPU too, where there is nothing to capture). Tests widen it to run the same maths on the CPU.
CAPTURABLE_DEVICES = ("cuda",)


def _check_capturable(p: torch.Tensor, step: torch.Tensor) -> None:
    if not (p.device.type == step.device.type and p.device.type in CAPTURABLE_DEVICES):
        raise AssertionError(f"If capturable=True, params and state_steps must be on supported devices: "
                             f"{list(CAPTURABLE_DEVICES)} (got {p.device.type} and {step.device.type})")


def _grad_mode(optimizer: Optimizer):
    """What step() runs under: no autograd, as in torch.optim, unless differentiable=True."""
    return torch.enable_grad() if optimizer.defaults.get("differentiable") else torch.no_grad()


def _new_step(p: torch.Tensor, capturable: bool) -> torch.Tensor:
    """A fresh step count: a CPU scalar (torch's layout), or on p's device where capturable."""
    return torch.zeros((), dtype=_scalar_dtype(), device=p.device if capturable else None)


def _hyper(group: dict, *names: str) -> dict:
    """The group with the named hyper-parameters as Python numbers, read once per step; in the
    differentiable and capturable modes a Tensor one stays a tensor (0-dim), so the update keeps it in
    the graph (differentiable) or on the device (capturable). `lr` stays a 0-dim tensor in any mode:
    its arithmetic happens in its own dtype, as in torch (see _scalar)."""
    keep = group.get("differentiable") or group.get("capturable")

    def read(x, name):
        return x.reshape(()) if isinstance(x, torch.Tensor) and (keep or name == "lr") else _scalar(x)

    out = dict(group)
    for name in names:
        out[name] = tuple(read(b, name) for b in group[name]) if name == "betas" else read(group[name], name)
    return out


def _contiguous_update(op, lists, *args) -> None:
    """op(*lists, *args) over contiguous tensors, as the fused kernels need: a non-contiguous tensor is
    updated through a contiguous copy that is written back (torch's fused optimizers take any strides)."""
    work = [[t if t.is_contiguous() else t.contiguous() for t in lst] for lst in lists]
    op(*work, *args)
    for lst, copies in zip(lists, work):
        for t, c in zip(lst, copies):
            if c is not t:
                t.copy_(c)


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
        _check_lr(lr, foreach, capturable=None)
        _check_nonneg("momentum value", momentum)
        _check_nonneg("weight_decay value", _scalar(weight_decay))
        _check_modes(fused, differentiable)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening "
                             f"(got momentum={momentum}, dampening={dampening})")
        _check_fused(fused, foreach)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach, fused=fused,
                        differentiable=differentiable)
        super().__init__(params, defaults)
        if fused:
            _load_fused_kernels(self)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("fused", None)
            group.setdefault("differentiable", False)

    def step(self, closure=None):
        loss = _loss_of(closure)
        with _grad_mode(self):
            for group, params in _groups_with_grads(self):
                bufs = [self.state[p].get("momentum_buffer") for p in params]
                update = _sgd_fused if group["fused"] else \
                    _sgd_loop if group["foreach"] is False or group["differentiable"] else _sgd_foreach
                update(params, [p.grad for p in params], bufs, _hyper(group, "lr", "weight_decay"))
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
            g = g.add(p, alpha=_scalar(wd))
        if mu != 0:
            if bufs[i] is None:
                bufs[i] = g.clone() if diff else torch.clone(g).detach()
            else:
                bufs[i].mul_(mu).add_(g, alpha=1 - tau)
            g = g.add(bufs[i], alpha=mu) if group["nesterov"] else bufs[i].clone() if diff else bufs[i]
        if isinstance(lr, torch.Tensor) and lr.requires_grad:
            p.sub_(g * lr)
        else:
            p.add_(g, alpha=-_scalar(lr))


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
    torch._foreach_add_(params, grads, alpha=-_scalar(lr))


def _sgd_fused(params, grads, bufs, group) -> None:
    """The same update in one call of the custom op `sgd_update_` (kernels/cpu/optimizer.cpp)."""
    op = torch.ops.minitorch_clf.sgd_update_
    args = (_scalar(group["lr"]), group["momentum"], group["dampening"], group["weight_decay"], group["nesterov"],
            group["maximize"])
    if group["momentum"] == 0:
        _contiguous_update(op, (params, grads, []), *args, False)
        return
    new = [i for i, b in enumerate(bufs) if b is None]
    for i in new:
        bufs[i] = torch.empty_like(params[i])
    for first, idx in ((True, new), (False, [i for i in range(len(params)) if i not in set(new)])):
        if idx:
            _contiguous_update(op, ([params[i] for i in idx], [grads[i] for i in idx], [bufs[i] for i in idx]),
                               *args, first)


def _check_fused(fused, foreach) -> None:
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def _load_fused_kernels(optimizer: Optimizer, complex_too: bool = False) -> None:
    """Check that the fused kernels can update every param (float32 or float64, on the CPU or a GPU; with
    `complex_too`, complex ones too, which Adam's step views as real pairs): torch checks at the first
    step, we at construction, before any state exists. Then build/load the kernels: the CPU ones, and the
    CUDA ones for GPU params."""
    from . import ops

    dtypes = (torch.float32, torch.float64) + ((torch.complex64, torch.complex128) if complex_too else ())
    params = [p for g in optimizer.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        if p.dtype not in dtypes or p.device.type not in ("cpu", "cuda"):
            raise RuntimeError(f"`fused=True` requires all the params to be {' or '.join(str(d)[6:] for d in dtypes)}"
                               f" tensors on cpu or cuda (this project's fused kernels), but params[{i}] is "
                               f"{p.dtype} on {p.device.type}")
    ops.load()
    if any(p.is_cuda for g in optimizer.param_groups for p in g["params"]):
        ops.load_cuda()


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
        _check_lr(lr, foreach, capturable)
        _check_nonneg("epsilon value", eps)
        _check_nonneg("weight_decay value", weight_decay)
        _check_betas(betas, foreach, capturable)
        _check_modes(fused, differentiable)
        _check_fused(fused, foreach)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, fused=fused, capturable=capturable,
                        differentiable=differentiable,
                        decoupled_weight_decay=decoupled_weight_decay or self.decoupled_weight_decay)
        super().__init__(params, defaults)
        if fused:
            _load_fused_kernels(self, complex_too=True)

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
                    st["step"] = _new_step(p, group["capturable"]) + float(st["step"])

    def _state(self, p: torch.Tensor, group: dict) -> dict:
        st = self.state[p]
        amsgrad = group["amsgrad"]
        needed = {"step", "exp_avg", "exp_avg_sq"} | ({"max_exp_avg_sq"} if amsgrad else set())
        if st and not needed <= set(st):
            raise ValueError(f"state: a parameter's state holds {sorted(st)}, not {sorted(needed)} - was the state "
                             f"dict loaded into this {type(self).__name__} made by another optimizer or options?")
        if not st:
            st["step"] = _new_step(p, group["capturable"])
            st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if amsgrad:
                st["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return st

    def step(self, closure=None):
        loss = _loss_of(closure)
        with _grad_mode(self):
            for group, params in _groups_with_grads(self):
                states = [self._state(p, group) for p in params]
                grads = [p.grad for p in params]
                if any(p.is_complex() for p in params):            # as torch does: a complex number is two reals
                    params, grads, states = _as_real(params, grads, states)
                if group["differentiable"] and group["foreach"]:
                    raise AssertionError("_foreach ops don't support autograd")   # torch's refusal, at its place
                # capturable with fused: the fused kernels on the CPU (nothing to capture there; torch runs
                # its fused kernel too), the capturable path on a GPU (the fused kernels read the step)
                if group["differentiable"] or (group["capturable"] and not (group["fused"] and not params[0].is_cuda)):
                    update = _adam_tensors
                else:
                    update = _adam_fused if group["fused"] else _adam_loop if group["foreach"] is False else _adam_foreach
                update(params, grads, states, _hyper(group, "lr", "betas"))
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
                p.mul_(_scalar(1 - lr * wd))
            else:
                g = g.add(p, alpha=wd)
        m, v = st["exp_avg"], st["exp_avg_sq"]
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        t = st["step"].item()
        step_size = _scalar(lr / (1 - beta1**t))
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
            torch._foreach_mul_(params, _scalar(1 - lr * wd))
        else:
            grads = torch._foreach_add(grads, params, alpha=wd)
    torch._foreach_lerp_(ms, grads, 1 - beta1)
    torch._foreach_mul_(vs, beta2)
    torch._foreach_addcmul_(vs, grads, grads, 1 - beta2)
    ts = [s.item() for s in steps]
    step_sizes = [-_scalar(lr / (1 - beta1**t)) for t in ts]
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
    """The same update in one call of the custom op `adam_update_` (kernels/cpu/optimizer.cpp). A Tensor
    lr or betas are read as numbers first: the kernel computes in double, as torch's fused kernel does."""
    lr, (beta1, beta2) = _scalar(group["lr"]), map(_scalar, group["betas"])
    for st in states:
        st["step"] += 1
    ts = [st["step"].item() for st in states]
    _contiguous_update(
        torch.ops.minitorch_clf.adam_update_,
        (params, grads, [st["exp_avg"] for st in states], [st["exp_avg_sq"] for st in states],
         [st["max_exp_avg_sq"] for st in states] if group["amsgrad"] else []),
        [lr / (1 - beta1**t) for t in ts], [(1 - beta2**t) ** 0.5 for t in ts],
        lr, beta1, beta2, group["eps"], group["weight_decay"], group["decoupled_weight_decay"], group["amsgrad"],
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
            _check_capturable(p, st["step"])
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
        _check_lr(lr, foreach, capturable)
        _check_nonneg("epsilon value", eps)
        _check_nonneg("momentum value", momentum)
        _check_nonneg("weight_decay value", weight_decay)
        _check_nonneg("alpha value", alpha)
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
            st["step"] = _new_step(p, group["capturable"])
            st["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["momentum"] > 0:
                st["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["centered"]:
                st["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return st

    def step(self, closure=None):
        loss = _loss_of(closure)
        with _grad_mode(self):
            for group, params in _groups_with_grads(self):
                states = [self._state(p, group) for p in params]
                if group["differentiable"] and group["foreach"]:
                    raise AssertionError("_foreach ops don't support autograd")   # torch's refusal, at its place
                loop = group["foreach"] is False or group["capturable"] or group["differentiable"]
                update = _rmsprop_loop if loop else _rmsprop_foreach
                update(params, [p.grad for p in params], states, _hyper(group, "lr"))
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
            _check_capturable(p, st["step"])
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
                p.add_(buf, alpha=-_scalar(lr))
        elif tensor_lr:
            p.sub_(g / d * lr)
        else:
            p.addcdiv_(g, d, value=-_scalar(lr))


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
        torch._foreach_add_(params, bufs, alpha=-_scalar(lr))
    else:
        torch._foreach_addcdiv_(params, grads, d, value=-_scalar(lr))


# The optimizers by the name `train --optimizer` and build_engine take: (class name, here and in
# torch.optim alike; whether it takes --momentum). The CLI's choices, make_optimizer and the docs read it.
REGISTRY = {"sgd": ("SGD", True), "adam": ("Adam", False), "adamw": ("AdamW", False), "rmsprop": ("RMSprop", False)}
