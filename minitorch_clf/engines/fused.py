"""`fused`: SimpleNet on this project's custom ops (kernels/), no autograd anywhere in the step.

    forward:   h_{k+1} = linear_forward(h_k, W_k, b_k, relu = k is not the last layer)
    loss:      loss, dlogits = cross_entropy_forward_backward(logits, y)     (one pass)
    backward:  dx, dW_k, db_k = linear_backward(dh, h_k, W_k, h_{k+1}, relu, need_dx = k > 0)
    optimizer: one fused update over all parameters (sgd_update_ / adam_update_)
Each op touches memory once outside its GEMMs. The gradients are written straight into `.grad`
(no zero_grad: every step overwrites them). The parameters are those of a `SimpleNet`, so
state_dict keys, initial weights and checkpoints are the other engines'.

With SGD, once a step has made the momentum buffers, the whole step runs as one unit
(`whole_step`, on by default; `minitorch-clf profile` turns it off to see the phases):
  * on the CPU, one call of `mlp_sgd_step_`, the same kernels composed in C++: the Python between
    ~10 op calls costs more than the GEMMs at batch 64. It leaves `.grad` as the last layered step
    wrote it.
  * on a GPU, a CUDA graph: after `GRAPH_WARMUP` eager steps of a batch shape the step is captured
    for that shape and replayed - the batch is copied into the graph's inputs, one replay runs every
    kernel. A failed capture falls back to eager steps with a warning.
Adam/AdamW compute their bias corrections on the host from the step count, so they always run
layer by layer.
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

    def __init__(self, *args, whole_step: bool = True, **kw):
        super().__init__(*args, **kw)
        ops.load_cuda() if self.device.type == "cuda" else ops.load()
        self.linears = [m for m in self.model.children() if hasattr(m, "weight")]
        self.weights = [layer.weight for layer in self.linears]
        self.biases = [layer.bias for layer in self.linears]
        self.whole_step = whole_step and type(self.optimizer) is ours.SGD and len(self.optimizer.param_groups) == 1
        self.graphs: dict[tuple, tuple] = {}      # batch shape -> (graph, static x, static y, static loss)
        self.seen: dict[tuple, int] = {}          # eager steps taken per batch shape

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if not self.whole_step:
            return self._eager_step(x, y)
        if self.device.type == "cpu":
            return self._one_call_step(x, y)
        return self._graph_step(x, y)

    # -- CPU: one C++ call ----------------------------------------------------------------------
    def _one_call_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        group = self.optimizer.param_groups[0]
        bufs = []
        if group["momentum"] != 0:
            bufs = [self.optimizer.state[p].get("momentum_buffer") for p in group["params"]]
            if any(b is None for b in bufs):       # the first step makes the buffers
                return self._eager_step(x, y)
        with torch._C._AutoDispatchBelowAutograd():
            return torch.ops.minitorch_clf.mlp_sgd_step_(
                x.reshape(x.shape[0], -1), y, self.weights, self.biases, bufs, group["lr"], group["momentum"],
                group["dampening"], group["weight_decay"], group["nesterov"], group["maximize"])

    # -- GPU: CUDA graphs -----------------------------------------------------------------------
    def _graph_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
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
            self.whole_step = False
            return None
        return graph, static_x, static_y, static_loss

    # -- layer by layer ---------------------------------------------------------------------------
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
