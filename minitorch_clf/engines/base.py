"""The one interface every engine implements; train, evaluate, bench, profile and tests use only it.

    eng = build_engine("manual", optimizer="sgd", lr=0.01, momentum=0.9, device="cpu", seed=0)
    loss = eng.step(x, y)        # one training step; returns the 0-dim loss
    losses = eng.train_epoch(x_all, y_all, order, batch_size)   # a pass over resident data: (steps,)
    logits = eng.predict(x)      # no grad, no state change
    eng.state_dict(); eng.load_state_dict(sd)

`step` and `predict` check the batch first (shape, dtype, device) so a bad batch raises before any
state changes. Each step labels its phases with `record_function` - forward, loss, backward,
optimizer - so profiles of different engines line up.
"""
from __future__ import annotations

import contextlib
import math

import torch
from torch.autograd.profiler import record_function

from ..data import batches
from ..models import MLPConfig

PHASES = ("forward", "loss", "backward", "optimizer")
IGNORE_INDEX = -100                 # a target the loss skips, in every engine (F.cross_entropy's default)


class Engine:
    name = "engine"
    checks_targets = False          # True where the step's own kernels refuse a target outside [0, C)

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, config: MLPConfig,
                 device: torch.device, dtype: torch.dtype):
        self.model, self.optimizer, self.config = model, optimizer, config
        self.device, self.dtype = device, dtype

    # -- the contract ---------------------------------------------------------------------------
    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.check_batch(x, y)
        return self._step(x, y)

    def train_epoch(self, x: torch.Tensor, y: torch.Tensor, order: torch.Tensor, batch_size: int,
                    drop_last: bool = False) -> torch.Tensor:
        """One pass over a data set resident on the engine's device: step k trains on the rows
        order[k * batch_size : (k + 1) * batch_size] of x (n, ...) and y (n,), gathered on the device
        (`TensorLoader.epoch` gives the same batches). Returns the per-step losses, (steps,).
        Here a loop of `step`; an engine may run the pass as one unit (the fused engine on a GPU)."""
        self.check_order(order, len(y), batch_size)
        return torch.stack([self.step(x.index_select(0, idx), y.index_select(0, idx))
                            for idx in batches(order, batch_size, drop_last)])

    def prepare_epoch(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, drop_last: bool = False) -> None:
        """Do ahead whatever `train_epoch` over these tensors sets up the first time, without training
        (the fused engine captures its CUDA graph here), so a timed epoch leaves it out. Default: nothing."""

    inspectable = True              # False where the step runs as one compiled graph (no forward to look into)

    def check_inspectable(self) -> None:
        if not self.inspectable:
            raise ValueError(f"inspect: the {self.name} engine runs its step as one compiled graph; "
                             "inspect with reference, manual or fused")

    def inspected_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """`step`, also handing over what its forward produced, for diagnostics.py: (loss, {"hidden":
        [h_k (N, H_k), the output of each hidden layer's activation], "logits": (N, C)}); the gradients
        are left in each parameter's .grad. Here through forward hooks on the model's activation
        modules and its last linear layer, so the figures come from the step's own forward."""
        self.check_inspectable()
        self.check_batch(x, y)
        activations, last = _probed_modules(self.model)
        hidden, logits = [], []
        handles = [m.register_forward_hook(lambda m, i, o: hidden.append(o.detach())) for m in activations]
        handles.append(last.register_forward_hook(lambda m, i, o: logits.append(o.detach())))
        try:
            loss = self._step(x, y)
        finally:
            for h in handles:
                h.remove()
        return loss, {"hidden": hidden, "logits": logits[-1]}

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        self.check_batch(x)
        return self.model(x)

    def state_dict(self) -> dict:
        return {"engine": self.name, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, sd: dict) -> None:
        self.model.load_state_dict(sd["model"])
        self.optimizer.load_state_dict(sd["optimizer"])

    # -- for subclasses -------------------------------------------------------------------------
    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    grad_sync = None                # data parallel (distributed.GradBuckets): the gradients' all-reduce

    def sync_grads(self) -> None:
        """Data parallel: wait for the gradients' all-reduce (launched during backward) before stepping."""
        if self.grad_sync is not None:
            with self.phase("allreduce"):
                self.grad_sync.wait()

    @staticmethod
    def phase(name: str):
        """record_function(name) while a profiler runs; nothing (not even its ~µs) otherwise."""
        return record_function(name) if torch.autograd._profiler_enabled() else contextlib.nullcontext()

    def check_order(self, order: torch.Tensor, n: int, batch_size: int) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
        if not isinstance(order, torch.Tensor) or order.dtype != torch.int64 or tuple(order.shape) != (n,):
            got = f"{order.dtype} {tuple(order.shape)}" if isinstance(order, torch.Tensor) else type(order).__name__
            raise ValueError(f"order: expected int64 row indices of shape ({n},), got {got}")
        if order.device != self.device:
            raise ValueError(f"order: expected device {self.device}, got {order.device}")
        if n and not bool(((order >= 0) & (order < n)).all()):
            bad = order[(order < 0) | (order >= n)][0].item()
            raise ValueError(f"order: expected row indices in [0, {n}), got {bad}")

    def check_batch(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        n_in = self.config.in_features
        if not isinstance(x, torch.Tensor) or x.dim() < 2 or math.prod(x.shape[1:]) != n_in:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x: expected (N, {n_in}) or (N, 1, 28, 28)-like with {n_in} values per sample, got {got}")
        if x.shape[0] == 0:
            raise ValueError(f"x: expected at least one sample, got shape {tuple(x.shape)}")
        if x.dtype != self.dtype or x.device != self.device:
            raise TypeError(f"x: expected {self.dtype} on {self.device} (the engine's), got {x.dtype} on {x.device}")
        if y is not None:
            if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or tuple(y.shape) != (x.shape[0],):
                got = f"{y.dtype} {tuple(y.shape)}" if isinstance(y, torch.Tensor) else type(y).__name__
                raise ValueError(f"y: expected int64 class indices of shape ({x.shape[0]},), got {got}")
            if y.device != self.device:
                raise ValueError(f"y: expected device {self.device}, got {y.device}")
            if y.device.type == "cpu" and not self.checks_targets:
                # every engine's loss skips IGNORE_INDEX (torch's ignore_index default, in the fused
                # kernels too) and refuses any other value outside [0, C) (on a GPU this read would
                # stall every step: there the loss kernels refuse, as torch's loss does)
                check_targets(y, self.config.num_classes)


def check_targets(y: torch.Tensor, classes: int) -> None:
    """Every target a class index in [0, classes) or IGNORE_INDEX; else a ValueError naming the first other."""
    bad = ((y < 0) | (y >= classes)) & (y != IGNORE_INDEX)
    if bad.any():
        raise ValueError(f"y: expected class indices in [0, {classes}) or {IGNORE_INDEX} (ignored), "
                         f"got {y[bad][0].item()}")


def _probed_modules(model: torch.nn.Module) -> tuple[list[torch.nn.Module], torch.nn.Module]:
    """(the activation modules, called once per hidden layer in order; the last linear layer) of
    SimpleNet (its Activation layers) or ReferenceNet (its one activation module, called L - 1 times)."""
    from ..layers import Activation

    children = list(model.children())
    activations = [m for m in children if isinstance(m, Activation)] or [model.activation]
    last = [m for m in children if hasattr(m, "weight")][-1]
    return activations, last
