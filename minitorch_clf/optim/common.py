"""What the optimizers share: hyper-parameter checks with torch.optim's messages, reading a group's
hyper-parameters once per step, the grad mode of step(), and the fused kernels' loading."""
from __future__ import annotations

import torch
from torch.optim import Optimizer


def scalar_dtype() -> torch.dtype:
    # torch.optim keeps `step` as a CPU tensor of this dtype; we match so state dicts interchange
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def params_with_grad(group: dict) -> list[torch.Tensor]:
    """Parameters that received a gradient; one whose .grad is None is skipped, as in torch."""
    for p in group["params"]:
        if p.grad is not None and p.grad.is_sparse:
            raise RuntimeError("sparse gradients are not supported")
    return [p for p in group["params"] if p.grad is not None]


def groups_with_grads(optimizer: Optimizer):
    """(group, its params that received a gradient) for each param group that has any, in order."""
    for group in optimizer.param_groups:
        params = params_with_grad(group)
        if params:
            yield group, params


def loss_of(closure):
    """What step(closure) returns: the closure's loss, evaluated with grad enabled (None without one)."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def check_nonneg(name: str, value: float) -> None:
    if not 0.0 <= value:
        raise ValueError(f"Invalid {name}: {value} (expected >= 0)")


def scalar(x) -> float:
    """A hyper-parameter (or an expression of one) given as a number or a 1-element Tensor (torch accepts
    both), as a Python number. A Tensor lr keeps its dtype through the arithmetic before it is read, as
    in torch: a float32 lr's step size is rounded to float32."""
    return x.item() if isinstance(x, torch.Tensor) else x


def check_lr(lr, foreach, capturable: bool | None = False) -> None:
    """torch.optim's rules (and messages) for a Tensor lr (capturable=None: SGD, which has no such mode
    and takes a Tensor lr on every path); then lr >= 0."""
    if isinstance(lr, torch.Tensor):
        if lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if foreach and capturable is False:
            raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True")
    check_nonneg("learning rate", scalar(lr))


def check_betas(betas, foreach, capturable: bool = False) -> None:
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
        if not 0.0 <= scalar(beta) < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {scalar(beta)} (expected in [0, 1))")


def check_foreach_autograd(group: dict) -> None:
    """differentiable=True with foreach=True is refused at step(), where and as torch refuses it."""
    if group["differentiable"] and group["foreach"]:
        raise AssertionError("_foreach ops don't support autograd")


def check_modes(fused, differentiable: bool) -> None:
    """fused=True with differentiable=True is refused, as torch refuses it."""
    if fused and differentiable:
        raise RuntimeError("`fused` does not support `differentiable`")


# Where capturable=True runs: the devices whose steps a graph captures (torch's rule: it refuses the
# CPU too, where there is nothing to capture). Tests widen it to run the same maths on the CPU.
CAPTURABLE_DEVICES = ("cuda",)


def check_capturable(p: torch.Tensor, step: torch.Tensor) -> None:
    if not (p.device.type == step.device.type and p.device.type in CAPTURABLE_DEVICES):
        raise AssertionError(f"If capturable=True, params and state_steps must be on supported devices: "
                             f"{list(CAPTURABLE_DEVICES)} (got {p.device.type} and {step.device.type})")


def grad_mode(optimizer: Optimizer):
    """What step() runs under: no autograd, as in torch.optim, unless differentiable=True."""
    return torch.enable_grad() if optimizer.defaults.get("differentiable") else torch.no_grad()


def new_step(p: torch.Tensor, capturable: bool) -> torch.Tensor:
    """A fresh step count: a CPU scalar (torch's layout), or on p's device where capturable."""
    return torch.zeros((), dtype=scalar_dtype(), device=p.device if capturable else None)


def hyper(group: dict, *names: str) -> dict:
    """The group with the named hyper-parameters as Python numbers, read once per step; in the
    differentiable and capturable modes a Tensor one stays a tensor (0-dim), so the update keeps it in
    the graph (differentiable) or on the device (capturable). `lr` stays a 0-dim tensor in any mode:
    its arithmetic happens in its own dtype, as in torch (see scalar)."""
    keep = group.get("differentiable") or group.get("capturable")

    def read(x, name):
        return x.reshape(()) if isinstance(x, torch.Tensor) and (keep or name == "lr") else scalar(x)

    out = dict(group)
    for name in names:
        out[name] = tuple(read(b, name) for b in group[name]) if name == "betas" else read(group[name], name)
    return out


def contiguous_update(op, lists, *args) -> None:
    """op(*lists, *args) over contiguous tensors, as the fused kernels need: a non-contiguous tensor is
    updated through a contiguous copy that is written back (torch's fused optimizers take any strides)."""
    work = [[t if t.is_contiguous() else t.contiguous() for t in lst] for lst in lists]
    op(*work, *args)
    for lst, copies in zip(lists, work):
        for t, c in zip(lst, copies):
            if c is not t:
                t.copy_(c)


def check_fused(fused, foreach) -> None:
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def load_fused_kernels(optimizer: Optimizer, complex_too: bool = False) -> None:
    """Check that the fused kernels can update every param (float32 or float64, on the CPU or a GPU; with
    `complex_too`, complex ones too, which Adam's step views as real pairs): torch checks at the first
    step, we at construction, before any state exists. Then build/load the kernels: the CPU ones, and the
    CUDA ones for GPU params."""
    from .. import ops

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
