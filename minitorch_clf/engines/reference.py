"""`reference`: the seed's loop exactly - nn.Module, nn.CrossEntropyLoss, torch.optim, autograd."""
from __future__ import annotations

import torch
from torch import nn

from .base import Engine


class ReferenceEngine(Engine):
    name = "reference"

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.criterion = nn.CrossEntropyLoss()
        self.forward_module = self.model          # compiled-reference swaps in torch.compile(model)

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.optimizer.zero_grad()
        with self.phase("forward"):
            logits = self.forward_module(x)
        with self.phase("loss"):
            loss = self.criterion(logits, y)
        with self.phase("backward"):
            loss.backward()
        with self.phase("optimizer"):
            self.optimizer.step()
        return loss.detach()
