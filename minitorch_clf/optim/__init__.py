"""SGD, Adam, AdamW and RMSprop written out, with torch.optim's signatures, defaults and state layout.

They subclass `torch.optim.Optimizer`, so param groups, LR schedulers, `zero_grad` and
`state_dict` behave as users expect, and a state dict moves between ours and torch's both ways.
Each update exists up to three times: a per-tensor loop written to be read (`foreach=False`), a
multi-tensor path on `torch._foreach_*` (the default) that does the same operations in the same
order over all tensors at once, so the two agree to the last bit in practice, and `fused=True`, one
call of this project's custom op over all tensors (kernels/cpu/optimizer.cpp, built on first use;
SGD, Adam and AdamW). `REGISTRY` names them for the command line. One file per optimizer (sgd.py, adam.py, rmsprop.py);
common.py holds their shared checks.
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

from .adam import Adam, AdamW
from .common import CAPTURABLE_DEVICES
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "RMSprop", "REGISTRY", "CAPTURABLE_DEVICES", "takes_momentum"]

# The optimizers by the name `train --optimizer` and build_engine take: (class name, here and in
# torch.optim alike; whether it takes --momentum). The CLI's choices, make_optimizer and the docs read it.
REGISTRY = {"sgd": ("SGD", True), "adam": ("Adam", False), "adamw": ("AdamW", False), "rmsprop": ("RMSprop", False)}


def takes_momentum(optimizer: str) -> bool:
    """Whether the optimizer of REGISTRY named `optimizer` takes a momentum (SGD); False for a name outside it."""
    return optimizer in REGISTRY and REGISTRY[optimizer][1]
