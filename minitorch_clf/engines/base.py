"""The one interface every engine implements; train, evaluate, bench, profile and tests use only it.

    eng = build_engine("manual", optimizer="sgd", lr=0.01, momentum=0.9, device="cpu", seed=0)
    loss = eng.step(x, y)        # one training step; returns the 0-dim loss
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

from ..models import MLPConfig

PHASES = ("forward", "loss", "backward", "optimizer")


class Engine:
    name = "engine"

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, config: MLPConfig,
                 device: torch.device, dtype: torch.dtype):
        self.model, self.optimizer, self.config = model, optimizer, config
        self.device, self.dtype = device, dtype

    # -- the contract ---------------------------------------------------------------------------
    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.check_batch(x, y)
        return self._step(x, y)

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

    @staticmethod
    def phase(name: str):
        """record_function(name) while a profiler runs; nothing (not even its ~µs) otherwise."""
        return record_function(name) if torch.autograd._profiler_enabled() else contextlib.nullcontext()

    def check_batch(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        n_in = self.config.in_features
        if not isinstance(x, torch.Tensor) or x.dim() < 2 or math.prod(x.shape[1:]) != n_in:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x: expected (N, {n_in}) or (N, 1, 28, 28)-like with {n_in} values per sample, got {got}")
        if x.dtype != self.dtype or x.device != self.device:
            raise TypeError(f"x: expected {self.dtype} on {self.device} (the engine's), got {x.dtype} on {x.device}")
        if y is not None:
            if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or tuple(y.shape) != (x.shape[0],):
                got = f"{y.dtype} {tuple(y.shape)}" if isinstance(y, torch.Tensor) else type(y).__name__
                raise ValueError(f"y: expected int64 class indices of shape ({x.shape[0]},), got {got}")
            if y.device != self.device:
                raise ValueError(f"y: expected device {self.device}, got {y.device}")
