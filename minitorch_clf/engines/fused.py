"""`fused`: SimpleNet on this project's custom ops (kernels/), no autograd anywhere in the step.

    forward:   h_{k+1}, s_{k+1} = linear_forward(h_k, W_k, b_k, act)       (act = MLPConfig.activation,
               'identity' for the last layer; s is what act' reads: h_{k+1}, or z_{k+1} for GELU)
    loss:      loss, dlogits = cross_entropy_forward_backward(logits, y)     (one pass)
    backward:  dx, dW_k, db_k = linear_backward(dh, h_k, W_k, s_{k+1}, act, need_dx = k > 0)
    optimizer: one fused update over all parameters (sgd_update_ / adam_update_)
Each op touches memory once outside its GEMMs. The gradients are written straight into `.grad`
(no zero_grad: every step overwrites them). The parameters are those of a `SimpleNet`, so
state_dict keys, initial weights and checkpoints are the other engines'.

With SGD, once a step has made the momentum buffers, the whole step runs as one unit
(`whole_step`, on by default; `minitorch-clf profile` turns it off to see the phases):
  * on the CPU, one call of `mlp_sgd_step_` (Adam and AdamW: `mlp_adam_step_`, from the first step), the
    same kernels composed in C++: the Python between ~10 op calls costs more than the GEMMs at batch 64.
    The engine calls the op's CPU kernel directly (`ops.direct()`, kernels/cpu/direct_calls.cpp), not
    through torch.ops: the same bits, 0.74-0.82x the step's time at batch 1 and 0.90-0.95x at 64 on the
    2-core Xeon (benchmarks/RESULTS.md, seventeenth session).
    It leaves `.grad` as the last layered step wrote it. `train_epoch` on the CPU runs the whole epoch as
    one call of `mlp_sgd_epoch_` (`mlp_adam_epoch_`): each step's gather and step in C++, no Python between
    the steps, each next batch copied in on the second thread while the layers after the first run on one.
  * on a GPU, a CUDA graph: after `GRAPH_WARMUP` eager steps of a batch shape the step is captured
    for that shape and replayed - the batch is copied into the graph's inputs, one replay runs every
    kernel. A failed capture falls back to eager steps with a warning.
  * `train_epoch` on a GPU captures the whole epoch as one graph: every step's gather of its rows
    (index_select from the resident data set, by a slice of the order buffer), its kernels and its
    loss. A replay copies the epoch's order in and trains ~940 steps with one launch from the host.
    With `cuda_epoch = "kernel"` it is instead one launch of `mlp_sgd_epoch_`: one cooperative kernel
    runs every step's phases, the rows read through the order in place (not measured on a GPU yet).
  * `cuda_step` picks what the step's graph holds: the layered kernels ("graph", the default), one
    launch of the one-kernel step ("kernel"), or whichever of the two is faster on this GPU and batch
    shape, after checking that they agree ("auto": CUDA_STEPS says how; not yet run on a GPU).
A graph holds the hyper-parameters it was captured with: graphs are keyed by them, so a changed
learning rate captures anew.
Adam/AdamW compute their bias corrections from the step count, which the optimizer keeps on the host: on the
CPU their whole step and epoch are one call all the same (the op reads and advances the counts), on a GPU
they run layer by layer.
Every activation of kernels/common/activation.h runs inside the ops (the GEMM's
epilogue, or the pass after an ATen product), on every path.
With `MLPConfig.precision` 'bf16' (on the CPU) every product of the step reads its operands rounded to
bf16 and sums in float32 (the GEMM's bf16 kernel - AMX tiles, vdpbf16ps, or rounded copies on the float32
kernels: ops.bf16_kernels() - switched on around each step by ops.precision): `manual`'s round_to, done
in the GEMM's packing. The GEMM's tuned plans (ops/tune.py) are searched and used for float32 steps only.
On a GPU 'bf16' and 'tf32' run every product on cuBLASLt's tensor cores (kernels/cuda/cublaslt.cpp: bf16
operands rounded by ATen's conversion, TF32 read by cuBLASLt itself), float32 sums, the rest of the step
float32 (not measured on a GPU yet); the one-kernel step and epoch are float32 only.
"""
from __future__ import annotations

import contextlib
import statistics
import warnings

import torch

from .. import ops
from ..ops import tune
from ..data import batches
from .. import optim as ours
from ..optim import adam
from ..errors import expect_one_of
from ..tools.timing import Timer
from .base import Engine, check_targets

GRAPH_WARMUP = 3
# How train_epoch runs on a GPU (FusedEngine.cuda_epoch): "graph", the epoch's layered steps captured as one
# CUDA graph; "kernel", one launch of mlp_sgd_epoch_ (kernels/cuda/persistent_step.cu: every step of the epoch
# in one cooperative kernel). "graph" stays the default until a GPU has measured the kernel (issue 27).
CUDA_EPOCHS = ("graph", "kernel")
# How the whole step runs on a GPU once captured (FusedEngine.cuda_step): "graph", the layered step's kernels as
# one CUDA graph; "kernel", a graph of one mlp_sgd_step_ launch (persistent_step.cu); "auto", both captured at
# the first capture of a batch shape, the kernel's step checked against the layered one from the same state
# (as the CPU tuner checks a plan before use), then both timed in turns and the faster kept - the state put
# back after each (step_choices records the outcome). "graph" stays the default until a GPU has run "auto".
CUDA_STEPS = ("graph", "kernel", "auto")
CHOICE_ROUNDS, CHOICE_REPLAYS = 5, 20


def _rows(x: torch.Tensor) -> torch.Tensor:
    """x as (N, features): itself where it is 2-D already, with no view made per step (this, and one pass over the
    optimizer's state for the buffers, took 1.5-2 us off the ~12 us of Python around the op at batch 1 on the
    2-core Xeon: benchmarks/RESULTS.md, eleventh session)."""
    return x if x.dim() == 2 else x.reshape(x.shape[0], -1)


class FusedEngine(Engine):
    name = "fused"
    checks_targets = True           # the cross-entropy kernels refuse a bad target before any update (on the CPU
                                    # a ValueError, as check_targets; on a GPU a RuntimeError, as torch's loss)

    def __init__(self, *args, whole_step: bool = True, **kw):
        super().__init__(*args, **kw)
        self.act = self.config.activation
        ops.load_cuda() if self.device.type == "cuda" else ops.load()
        self.linears = [m for m in self.model.children() if hasattr(m, "weight")]
        self.weights = [layer.weight for layer in self.linears]
        self.biases = [layer.bias for layer in self.linears]
        self.whole_step = whole_step and len(self.optimizer.param_groups) == 1 and (
            type(self.optimizer) is ours.SGD or (self.device.type == "cpu" and self._adam_in_one_call()))
        self.graphs: dict[tuple, tuple] = {}      # (batch shape, hyper) -> (graph, static x, static y, static loss)
        self.seen: dict[tuple, int] = {}          # eager steps taken per batch shape
        self.epoch_graph: tuple | None = None      # (key, graph, static order, losses, x, y): the last epoch captured
        self.tuned: set[int] = set()               # batch sizes whose GEMM plans are in force (CPU)
        self.cuda_epoch = "graph"                  # a GPU's train_epoch: one of CUDA_EPOCHS
        self.cuda_step = "graph"                   # a GPU's captured step: one of CUDA_STEPS
        self.step_choices: dict[tuple, dict] = {}  # cuda_step "auto": per captured key, what was measured, chosen

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self._tune(x.shape[0])
        with self._precision():
            if not self.whole_step:
                return self._eager_step(x, y)
            if self.device.type == "cpu":
                return self._one_call_step(x, y)
            return self._graph_step(x, y)

    def _precision(self):
        """Where the ops' products run in the config's precision: bf16 on the CPU; bf16 or tf32 on a GPU
        (build_engine refused the rest), else as they are."""
        if self.config.precision == "float32":
            return contextlib.nullcontext()
        return ops.precision(self.config.precision, self.device.type)

    # -- CPU: one C++ call ----------------------------------------------------------------------
    def _tune(self, batch_size: int) -> None:
        """On the CPU, the GEMM plans tuned for this batch's products in force (ops/tune.py: from the
        cache, or found by a short search the first time on this CPU, about a second)."""
        if self.device.type == "cpu" and self.config.precision == "float32" and batch_size not in self.tuned:
            tune.ensure(batch_size, self.config.sizes)
            self.tuned.add(batch_size)

    def _one_call_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if type(self.optimizer) is not ours.SGD:
            return self._one_call_adam_step(x, y)
        buffers = self._buffers()
        if buffers is None:                    # the first step makes them
            return self._eager_step(x, y)
        return ops.direct().sgd_step(_rows(x), y, *self._one_call_args(buffers))

    def _adam_in_one_call(self) -> bool:
        """Adam or AdamW updating through adam_update_ (fused, neither capturable nor differentiable): on the
        CPU its step is one call of mlp_adam_step_."""
        group = self.optimizer.param_groups[0]
        return (type(self.optimizer) in (ours.Adam, ours.AdamW) and bool(group["fused"])
                and not (group["capturable"] or group["differentiable"]))

    def _one_call_adam_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One call of mlp_adam_step_: the layered step's kernels and adam_update_'s update, on the state the
        optimizer keeps; the op advances the step counts and computes their bias corrections as the
        optimizer does."""
        return ops.direct().adam_step(_rows(x), y, *self._adam_args())

    def _adam_args(self) -> tuple:
        """What mlp_adam_step_ and mlp_adam_epoch_ take after their data: the parameters, Adam's state (made
        here before the first step, zeros, as the optimizer's own step would), the activation and scalars."""
        group = self.optimizer.param_groups[0]
        states = [self.optimizer._state(p, group) for p in group["params"]]
        return (self.weights, self.biases, [st["step"] for st in states], *adam.fused_state(states, group), self.act,
                *adam.fused_hyper(group))

    def _one_call_args(self, buffers: list[torch.Tensor] | None = None) -> tuple:
        """What mlp_sgd_step_ and mlp_sgd_epoch_ take after their data: the parameters, the momentum
        buffers (none without momentum; `buffers` where the caller has them), the activation and the
        optimizer's scalars."""
        return (self.weights, self.biases, self._buffers() if buffers is None else buffers, self.act, *self._hyper())

    def _buffers(self) -> list[torch.Tensor] | None:
        """The momentum buffers, in the parameters' order ([] without momentum); None until the first step
        has made them all."""
        group = self.optimizer.param_groups[0]
        if not group["momentum"]:
            return []
        buffers = [self.optimizer.state[p].get("momentum_buffer") for p in group["params"]]
        return None if any(b is None for b in buffers) else buffers

    # -- GPU: CUDA graphs -----------------------------------------------------------------------
    def _hyper(self) -> tuple:
        """The optimizer's scalars, in the order the one-call ops take them: what a captured graph bakes
        in besides tensors, and the tail of mlp_sgd_step_'s / mlp_sgd_epoch_'s arguments."""
        group = self.optimizer.param_groups[0]
        return tuple(group[k] for k in ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"))

    def _graph_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        key = (tuple(x.shape), self._hyper())
        captured = self.graphs.get(key)
        if captured is None:
            if self.seen.get(key, 0) < GRAPH_WARMUP:
                self.seen[key] = self.seen.get(key, 0) + 1
                return self._eager_step(x, y)
            captured = self._capture(x, y)
            if captured is None:
                return self._eager_step(x, y)
            expect_one_of("cuda_step", self.cuda_step, CUDA_STEPS)
            if self.cuda_step != "graph" and self.config.precision == "float32":
                kernel = self._capture_kernel(x, y)
                if kernel is not None:
                    captured = kernel if self.cuda_step == "kernel" else self._choose(key, captured, kernel, x, y)
            self.graphs[key] = captured
        graph, static_x, static_y, static_loss = captured
        static_x.copy_(x.reshape(static_x.shape))  # the one-kernel graph's x is (N, features)
        static_y.copy_(y)
        graph.replay()
        return static_loss.clone()             # the static buffer is overwritten by the next replay

    def _capture(self, x: torch.Tensor, y: torch.Tensor):
        static_x, static_y = x.clone(), y.clone()
        captured = self._captured(lambda: self._eager_step(static_x, static_y))
        return None if captured is None else (captured[0], static_x, static_y, captured[1])

    def _capture_kernel(self, x: torch.Tensor, y: torch.Tensor):
        """The one-kernel step (mlp_sgd_step_ on CUDA) captured as a graph over its own static x, y: the
        layered graph's tuple; None (with a warning) where it cannot be captured. Its warm-up launch runs on
        a snapshot that is put back: it trains nothing."""
        static_x, static_y = x.reshape(x.shape[0], -1).clone(), y.clone()
        state = self._state()
        try:
            with torch._C._AutoDispatchBelowAutograd():
                torch.ops.minitorch_clf.mlp_sgd_step_(static_x, static_y, *self._one_call_args())
                torch.cuda.synchronize(self.device)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    loss = torch.ops.minitorch_clf.mlp_sgd_step_(static_x, static_y, *self._one_call_args())
        except RuntimeError as e:
            warnings.warn(f"fused engine: the one-kernel CUDA step could not be captured, keeping the layered graph ({e})")
            return None
        finally:
            self._restore(state)
        return graph, static_x, static_y, loss

    def _state(self) -> list[torch.Tensor]:
        """Copies of what a step changes: the parameters and the momentum buffers."""
        return [t.detach().clone() for t in [*self.weights, *self.biases, *self._buffers()]]

    def _restore(self, state: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for t, saved in zip([*self.weights, *self.biases, *self._buffers()], state):
                t.copy_(saved)

    def _choose(self, key, layered, kernel, x, y):
        """cuda_step "auto": the one-kernel graph where it agrees with the layered one and is faster, else the
        layered graph. Agreement: one step of each from the same state on this batch, losses and every
        parameter within float32 noise (other orders of summation); then CHOICE_ROUNDS rounds of
        CHOICE_REPLAYS replays of each, in turns, the medians compared. The state is put back after every
        replay it does not keep: choosing trains nothing."""
        state = self._state()
        after = {}
        for name, (graph, static_x, static_y, loss) in (("graph", layered), ("kernel", kernel)):
            static_x.copy_(x.reshape(static_x.shape))
            static_y.copy_(y)
            graph.replay()
            after[name] = (loss.clone(), self._state())
            self._restore(state)
        (la, pa), (lb, pb) = after["graph"], after["kernel"]
        agree = torch.allclose(lb, la, rtol=1e-4, atol=1e-5) and all(
            torch.allclose(q, p, rtol=1e-3, atol=1e-5) for p, q in zip(pa, pb))
        record = {"batch_shape": key[0], "agree": agree}
        if not agree:
            warnings.warn(f"fused engine: the one-kernel CUDA step disagrees with the layered step at batch shape "
                          f"{key[0]} (loss {lb.item():.6g} vs {la.item():.6g}); keeping the layered graph")
            self.step_choices[key] = {**record, "chose": "graph"}
            return layered
        times = {"graph": [], "kernel": []}
        for turn in tune.shuffled_rounds(list(times), CHOICE_ROUNDS):
            for name in turn:
                graph = (layered if name == "graph" else kernel)[0]
                with Timer(self.device) as t:
                    for _ in range(CHOICE_REPLAYS):
                        graph.replay()
                times[name].append(t.seconds / CHOICE_REPLAYS)
                self._restore(state)
        median = {name: statistics.median(ts) for name, ts in times.items()}
        chose = min(median, key=median.get)
        self.step_choices[key] = {**record, "graph_s": median["graph"], "kernel_s": median["kernel"], "chose": chose}
        return kernel if chose == "kernel" else layered

    def _captured(self, work):
        """(graph, what work() returned while captured), or None (with a warning) where capture fails."""
        graph = torch.cuda.CUDAGraph()
        try:
            torch.cuda.synchronize(self.device)
            with torch.cuda.graph(graph):
                out = work()
        except RuntimeError as e:              # capture is not possible here: stay eager
            warnings.warn(f"fused engine: CUDA graph capture failed, running eagerly ({e})")
            self.whole_step = False
            return None
        return graph, out

    # -- a whole epoch: one C++ call on the CPU; one CUDA graph or one kernel on a GPU -------------
    def train_epoch(self, x, y, order, batch_size, drop_last=False):
        if self.device.type == "cpu":
            with self._precision():
                return self._one_call_epoch(x, y, order, batch_size, drop_last)
        expect_one_of("cuda_epoch", self.cuda_epoch, CUDA_EPOCHS)
        if self.cuda_epoch == "kernel":
            if self.config.precision != "float32":
                raise ValueError(f"cuda_epoch: the epoch kernel runs float32 products, not {self.config.precision}; "
                                 "use cuda_epoch 'graph'")
            return self._one_call_epoch(x, y, order, batch_size, drop_last)
        with self._precision():                # the capture records the products in the config's precision
            captured = self._epoch_graph(x, y, order, batch_size, drop_last)
        if captured is None:
            return super().train_epoch(x, y, order, batch_size, drop_last)
        _, graph, static_order, losses, _, _ = captured
        static_order.copy_(order)
        graph.replay()
        return losses.clone()                  # the static buffer is overwritten by the next replay

    def _one_call_epoch(self, x, y, order, batch_size, drop_last):
        """The epoch as one call of mlp_sgd_epoch_ or, with Adam on the CPU, mlp_adam_epoch_ (on the CPU the
        same kernels, gathers and steps as the loop of `step`, without the Python around each step; on a GPU
        the one-kernel step's phases for every batch in one launch); the loop where the step is not one call
        (profiling, data parallel). The first step of a fresh SGD with momentum makes the buffers."""
        self.check_order(order, len(y), batch_size)
        if not self.whole_step:
            return super().train_epoch(x, y, order, batch_size, drop_last)
        self.check_batch(x, y)
        self._check_all_targets(y)             # a bad one would stop the call part-way, steps taken
        self._tune(batch_size)
        if type(self.optimizer) is not ours.SGD:
            with torch._C._AutoDispatchBelowAutograd():
                return torch.ops.minitorch_clf.mlp_adam_epoch_(x, y, order, batch_size, drop_last, *self._adam_args())
        first = []
        if not self._momentum_ready():
            idx = order[:batch_size]
            if drop_last and len(idx) < batch_size:
                return x.new_empty(0)
            first, order = [self.step(x.index_select(0, idx), y.index_select(0, idx))], order[batch_size:]
        with torch._C._AutoDispatchBelowAutograd():
            rest = torch.ops.minitorch_clf.mlp_sgd_epoch_(x, y, order, batch_size, drop_last, *self._one_call_args())
        return torch.cat([torch.stack(first), rest]) if first else rest

    def prepare_epoch(self, x, y, batch_size, drop_last=False):
        if self.device.type == "cuda" and self.cuda_epoch == "graph":     # the kernel needs no preparing
            with self._precision():
                self._epoch_graph(x, y, torch.arange(len(y), device=self.device), batch_size, drop_last)

    def _epoch_graph(self, x, y, order, batch_size, drop_last):
        """The epoch graph for these tensors, captured the first time; None where the epoch runs step
        by step (no GPU, not whole-step, or before the first step has made the momentum buffers)."""
        self.check_order(order, len(y), batch_size)
        if not (self.whole_step and self.device.type == "cuda") or not self._momentum_ready():
            return None
        key = (id(x), id(y), tuple(x.shape), batch_size, drop_last, self._hyper())
        if self.epoch_graph is not None and self.epoch_graph[0] == key:
            return self.epoch_graph
        self.check_batch(x, y)
        self._check_all_targets(y)             # the captured loss kernel cannot stop to report one
        self.epoch_graph = None                # one epoch graph at a time: free the last one first
        static_order = order.clone()

        def epoch():
            return torch.stack([self._eager_step(x.index_select(0, idx), y.index_select(0, idx))
                                for idx in batches(static_order, batch_size, drop_last)])

        captured = self._captured(epoch)
        if captured is None:
            return None
        self.epoch_graph = (key, captured[0], static_order, captured[1], x, y)   # x, y kept alive: read in place
        return self.epoch_graph

    def _check_all_targets(self, y: torch.Tensor) -> None:
        """Every target of an epoch's y checked once before the epoch runs as one unit."""
        check_targets(y, self.config.num_classes)

    def _momentum_ready(self) -> bool:
        return self._buffers() is not None

    # -- layer by layer ---------------------------------------------------------------------------
    def _eager_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # Nothing here needs autograd; dispatching below the Autograd key skips the Python autograd
        # wrapper that register_autograd puts on linear_forward and cross_entropy (benchmarks/RESULTS.md,
        # "the measurements behind the code's comments", has its cost).
        with torch._C._AutoDispatchBelowAutograd():
            return self._ops_step(x, y)

    def inspected_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The layer-by-layer step (not the one C++ call or graph replay, which keep nothing), its
        activations handed over from the list it keeps for its backward."""
        self.check_batch(x, y)
        acts: list[torch.Tensor] = []
        with torch._C._AutoDispatchBelowAutograd(), self._precision():
            loss = self._ops_step(x, y, acts)
        return loss, {"hidden": acts[1:-1], "logits": acts[-1]}

    def _ops_step(self, x: torch.Tensor, y: torch.Tensor, keep: list | None = None) -> torch.Tensor:
        last = len(self.linears) - 1
        with self.phase("forward"):
            acts, saved = [x.reshape(x.shape[0], -1)], [None]                   # (N, 784); s_0 unused
            for k, layer in enumerate(self.linears):
                h, s = ops.linear_forward(acts[k], layer.weight, layer.bias, self.act if k < last else "identity")
                acts.append(h)
                saved.append(s)
        with self.phase("loss"):
            loss, dh = ops.cross_entropy_forward_backward(acts[-1], y)         # (), (N, C)
        with self.phase("backward"):
            for k in range(last, -1, -1):
                layer = self.linears[k]
                dh, layer.weight.grad, layer.bias.grad = ops.linear_backward(
                    dh, acts[k], layer.weight, saved[k + 1], self.act if k < last else "identity", k > 0)
                if self.grad_sync is not None:
                    self.grad_sync.ready([layer.weight, layer.bias])
        self.sync_grads()
        with self.phase("optimizer"):
            self.optimizer.step()
        if keep is not None:
            keep.extend(acts)                                                   # x, h_1, ..., logits
        return loss

    def load_state_dict(self, sd: dict) -> None:
        super().load_state_dict(sd)
        # the optimizer now holds new state tensors, which a captured graph does not know: recapture
        self.graphs, self.seen, self.epoch_graph = {}, {}, None
