"""`compiled`: the manual engine's step through `torch.compile`.

Forward, loss and backward of the hand-written layers form one graph (`fullgraph=True`: a graph
break is an error, so nothing silently falls back to eager). The optimizer step is compiled on its
own, without fullgraph: Adam reads its step count on the host to form the bias corrections.
The data-dependent target check of cross_entropy_forward is skipped while compiling (a value check
cannot be traced); engine.step still checks shapes and dtypes before the compiled code runs.
"""
from __future__ import annotations

import torch

from .compiled_reference import checked_compile_mode
from .manual import ManualEngine


class CompiledManualEngine(ManualEngine):
    name = "compiled"
    inspectable = False

    def __init__(self, *args, compile_mode: str = "default", **kw):
        super().__init__(*args, **kw)
        self.compile_mode = checked_compile_mode(compile_mode)
        self._forward_backward = torch.compile(self._forward_backward_eager, fullgraph=True, mode=compile_mode)
        self._optimizer_step = torch.compile(self.optimizer.step, mode=compile_mode)

    def _forward_backward_eager(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = self.criterion(self.model(x), y)
        self.model.backward(self.criterion.backward(), need_input_grad=False)
        return loss

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.optimizer.zero_grad()
        with self.phase("forward"), self.phase("loss"), self.phase("backward"):   # one graph: fused phases
            loss = self._forward_backward(x, y)
        with self.phase("optimizer"):
            self._optimizer_step()
        return loss
