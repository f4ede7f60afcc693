"""`fused`: SimpleNet on this project's custom ops (kernels/), no autograd anywhere in the step.

    forward:   h_{k+1} = linear_forward(h_k, W_k, b_k, relu = k is not the last layer)
    loss:      loss, dlogits = cross_entropy_forward_backward(logits, y)     (one pass)
    backward:  dx, dW_k, db_k = linear_backward(dh, h_k, W_k, h_{k+1}, relu, need_dx = k > 0)
    optimizer: one fused update over all parameters (sgd_update_ / adam_update_)
Each op touches memory once outside its GEMMs. The gradients are written straight into `.grad`
(no zero_grad: every step overwrites them). The parameters are those of a `SimpleNet`, so
state_dict keys, initial weights and checkpoints are the other engines'.

On a GPU the step is small enough that launching its ~20 kernels costs more than running them, so
after `GRAPH_WARMUP` eager steps of a batch shape the whole step is captured in a CUDA graph for
that shape and replayed: the batch is copied into the graph's input buffers, one replay runs every
kernel. Capture needs host-side values that do not change, so Adam/AdamW - whose bias corrections
are computed on the host from the step count - always run eagerly. A failed capture falls back to
eager steps with a warning.
"""
from __future__ import annotations

import warnings

import torch

from .. import ops
from .. import optim as ours
from .base import Engine

GRAPH_WARMUP = 3


class FusedEngine(Engine):
    name = "fused"

    def __init__(self, *args, cuda_graph: bool = True, **kw):
        super().__init__(*args, **kw)
        ops.load_cuda() if self.device.type == "cuda" else ops.load()
        self.linears = [m for m in self.model.children() if hasattr(m, "weight")]
        self.use_graph = (cuda_graph and self.device.type == "cuda" and type(self.optimizer) is ours.SGD)
        self.graphs: dict[tuple, tuple] = {}      # batch shape -> (graph, static x, static y, static loss)
        self.seen: dict[tuple, int] = {}          # eager steps taken per batch shape

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if not self.use_graph:
            return self._eager_step(x, y)
        key = tuple(x.shape)
        captured = self.graphs.get(key)
        if captured is None:
            if self.seen.get(key, 0) < GRAPH_WARMUP:
                self.seen[key] = self.seen.get(key, 0) + 1
                return self._eager_step(x, y)
            captured = self._capture(x, y)
            if captured is None:
                return self._eager_step(x, y)
            self.graphs[key] = captured
        graph, static_x, static_y, static_loss = captured
        static_x.copy_(x)
        static_y.copy_(y)
        graph.replay()
        return static_loss.clone()             # the static buffer is overwritten by the next replay

    def _capture(self, x: torch.Tensor, y: torch.Tensor):
        static_x, static_y = x.clone(), y.clone()
        graph = torch.cuda.CUDAGraph()
        try:
            torch.cuda.synchronize(self.device)
            with torch.cuda.graph(graph):
                static_loss = self._eager_step(static_x, static_y)
        except RuntimeError as e:              # capture is not possible here: stay eager
            warnings.warn(f"fused engine: CUDA graph capture failed, running eagerly ({e})")
            self.use_graph = False
            return None
        return graph, static_x, static_y, static_loss

    def _eager_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # Nothing here needs autograd; dispatching below the Autograd key skips the Python autograd
        # wrapper that register_autograd puts on linear_forward and cross_entropy (~10 us a call).
        with torch._C._AutoDispatchBelowAutograd():
            return self._ops_step(x, y)

    def _ops_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        last = len(self.linears) - 1
        with self.phase("forward"):
            acts = [x.reshape(x.shape[0], -1)]                                  # (N, 784)
            for k, layer in enumerate(self.linears):
                acts.append(ops.linear_forward(acts[k], layer.weight, layer.bias, k < last))
        with self.phase("loss"):
            loss, dh = ops.cross_entropy_forward_backward(acts[-1], y)         # (), (N, C)
        with self.phase("backward"):
            for k in range(last, -1, -1):
                layer = self.linears[k]
                dh, layer.weight.grad, layer.bias.grad = ops.linear_backward(
                    dh, acts[k], layer.weight, acts[k + 1], k < last, k > 0)
        with self.phase("optimizer"):
            self.optimizer.step()
        return loss

    def load_state_dict(self, sd: dict) -> None:
        super().load_state_dict(sd)
        # the optimizer now holds new state tensors, which a captured graph does not know: recapture
        self.graphs, self.seen = {}, {}
