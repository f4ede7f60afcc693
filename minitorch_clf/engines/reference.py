"""`reference`: the seed's loop exactly - nn.Module, nn.CrossEntropyLoss, torch.optim, autograd.

With `MLPConfig.precision` 'bf16' the forward and the loss run under `torch.autocast` (bfloat16 products
with float32 accumulation, float32 master weights; autocast also leaves its bf16 activations between
the layers, where `manual` keeps float32 ones); with 'tf32' (a GPU's) the step's float32 matmuls may use
TF32 tensor cores (`torch.backends.cuda.matmul.allow_tf32`, put back after the step)."""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from .base import Engine


@contextlib.contextmanager
def _tf32_matmuls():
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def precision_contexts(precision: str, device: torch.device, autocast_cache: bool = True):
    """(where the whole step runs, where its forward and loss run) for a precision: TF32 matmuls allowed
    for tf32; autocast to bfloat16 for bf16 (`autocast_cache`: its cache of the weights' casts, which
    CUDA-graph capture needs off); nothing for float32."""
    matmuls = _tf32_matmuls() if precision == "tf32" else contextlib.nullcontext()
    autocast = (torch.autocast(device_type=device.type, dtype=torch.bfloat16, cache_enabled=autocast_cache)
                if precision == "bf16" else contextlib.nullcontext())
    return matmuls, autocast


class ReferenceEngine(Engine):
    name = "reference"
    autocast_cache = True           # autocast's cache of the weights' casts (graphed-reference turns it off)

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.criterion = nn.CrossEntropyLoss()
        self.forward_module = self.model          # compiled-reference swaps in torch.compile(model)

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.optimizer.zero_grad()
        matmuls, autocast = precision_contexts(self.config.precision, self.device, self.autocast_cache)
        with matmuls:
            with autocast:
                with self.phase("forward"):
                    logits = self.forward_module(x)
                with self.phase("loss"):
                    loss = self.criterion(logits, y)
            with self.phase("backward"):
                loss.backward()                    # outside autocast, as PyTorch's AMP recipe has it
            with self.phase("optimizer"):
                self.optimizer.step()
        return loss.detach()

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        matmuls, autocast = precision_contexts(self.config.precision, self.device)
        with matmuls, autocast:
            return super().predict(x).to(self.dtype)      # autocast's logits are bf16
