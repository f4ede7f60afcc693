"""`manual`: the hand-written layers and optimizer; no autograd anywhere in the step."""
from __future__ import annotations

import torch

from ..layers import CrossEntropyLoss
from .base import Engine


class ManualEngine(Engine):
    name = "manual"

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.criterion = CrossEntropyLoss()

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.optimizer.zero_grad()
        with self.phase("forward"):
            logits = self.model(x)
        with self.phase("loss"):
            loss = self.criterion(logits, y)
        with self.phase("backward"):
            dlogits = self.criterion.backward()
            self.model.backward(dlogits, need_input_grad=False, grads_ready=self.grad_sync and self.grad_sync.ready)
        self.sync_grads()
        with self.phase("optimizer"):
            self.optimizer.step()
        return loss
