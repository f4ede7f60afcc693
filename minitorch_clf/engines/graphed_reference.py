"""`graphed-reference`: the seed's whole step captured as one CUDA graph - the GPU peer of the fused engine.

What a user who knows CUDA graphs runs instead of the eager seed, as PyTorch's CUDA-graphs notes capture
a whole network: the module's forward, nn.CrossEntropyLoss, backward and the torch.optim step recorded
once into a `torch.cuda.CUDAGraph` over static input and target tensors, then per step the batch copied
into them and the graph replayed - one launch for the ~40 kernels of a step. The step is `reference`'s
(the same module, loss and autocast; torch.optim's fused or capturable implementation of the same
optimizer), so its numbers match reference's within float32 rounding; what goes is the launches.

As the notes require:
- torch.optim runs with its state on the GPU: SGD with `fused=True`, Adam, AdamW and RMSprop with
  `capturable=True` (their step counters are tensors there; build_engine passes the option);
- the first GRAPH_WARMUP steps of each batch shape run eagerly on a side stream (real training steps:
  they create the optimizer's state and cuBLAS's workspaces before capture);
- one graph per batch shape and set of optimizer scalars (lr, momentum, ...: a graph bakes them in): the
  ragged last batch of an epoch gets its own, a changed lr a new capture (after its warm-up steps), which
  frees the graphs of the old scalars (each holds its own memory pool);
- autocast (bf16) runs with its weight-cast cache off, which capture needs.
A GPU only: on a CPU build_engine refuses it in one line. The two CUDA pieces are `_warmup_step` and
`_record`; tests/test_engines.py replaces them with eager ones to check the rest on a CPU.
"""
from __future__ import annotations

import warnings

import torch

from .reference import ReferenceEngine

GRAPH_WARMUP = 3            # eager steps of a batch shape before it is captured (PyTorch's notes use 3)


def optimizer_options(optimizer: str) -> dict:
    """torch.optim's options that keep an optimizer's state and arithmetic on the GPU, capturable."""
    return {"fused": True} if optimizer == "sgd" else {"capturable": True}


class GraphedReferenceEngine(ReferenceEngine):
    name = "graphed-reference"
    inspectable = False     # its forward runs inside a graph replay: no module hooks fire
    autocast_cache = False  # capture needs autocast's cache of weight casts off

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.graphs: dict[tuple, tuple] = {}      # (batch shape, scalars) -> (replay, static x, static y)
        self.seen: dict[tuple, int] = {}          # eager steps taken per key

    def _key(self, x: torch.Tensor) -> tuple:
        scalars = tuple(tuple((k, v) for k, v in sorted(g.items()) if k != "params" and not torch.is_tensor(v))
                        for g in self.optimizer.param_groups)
        return tuple(x.shape), scalars

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        key = self._key(x)
        captured = self.graphs.get(key)
        if captured is None:
            if self.seen.get(key, 0) < GRAPH_WARMUP:
                self.seen[key] = self.seen.get(key, 0) + 1
                return self._warmup_step(x, y)
            self.graphs = {k: v for k, v in self.graphs.items() if k[1] == key[1]}   # other scalars: not again
            static_x, static_y = x.clone(), y.clone()
            captured = self.graphs[key] = (self._record(lambda: self._eager(static_x, static_y)), static_x, static_y)
        replay, static_x, static_y = captured
        static_x.copy_(x)
        static_y.copy_(y)
        return replay().clone()                # the static loss is overwritten by the next replay

    def _eager(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """reference's step: zero_grad (to None), forward and loss under the precision's contexts, backward,
        the optimizer's step."""
        return super()._step(x, y)

    def _warmup_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """An eager step on a side stream, as the notes warm up before capture (torch's warning that a
        capturable optimizer steps outside a capture is about exactly this, and silenced)."""
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="This instance was constructed with capturable=True")
            loss = self._eager(x, y)
        torch.cuda.current_stream(self.device).wait_stream(side)
        return loss

    def _record(self, step):
        """step() captured as a CUDA graph (capture runs no kernel: no state changes); returns replay(),
        which runs the graph and returns the step's static loss."""
        graph = torch.cuda.CUDAGraph()
        torch.cuda.synchronize(self.device)
        with torch.cuda.graph(graph):
            static_loss = step()

        def replay() -> torch.Tensor:
            graph.replay()
            return static_loss

        return replay

    def load_state_dict(self, sd: dict) -> None:
        super().load_state_dict(sd)
        # the optimizer now holds new state tensors, which a captured graph does not know: recapture
        self.graphs, self.seen = {}, {}
