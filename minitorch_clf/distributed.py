"""Data-parallel training on torch.distributed: `train --nproc N`, or N processes started by torchrun.

Every rank holds the whole model and trains on its shard of each global batch; after backward the
ranks average their gradients, so every rank takes the same optimizer step and the weights stay
identical. Written out here, as DDP does it inside:

- **Sharding.** An epoch's permutation (data.epoch_permutation, a function of seed and epoch) is cut
  into global batches of N x B rows, exactly the batches of a one-process run at batch N x B; rank r
  trains on rows [r s, (r + 1) s) of each, s = B for the full batches. The last global batch, of m
  rows, is split into N shards of floor(m / N) rows: the m mod N rows left over are not trained on
  (none when N divides m, e.g. mnist-5k's 4000 rows at B = 64 and N = 2), and a last batch smaller
  than N is skipped. With equal shards the mean of the ranks' mean losses is the global batch's mean
  loss, and the mean of their gradients its gradient: the N-rank run follows the one-process run at
  batch N x B step by step.
- **Gradients.** `reference` wraps its module in torch's DistributedDataParallel. `manual` and
  `fused` use GradBuckets: the gradients, in the order backward completes them (last layer first),
  are packed into buckets of about `bucket_kb`; a bucket's all-reduce starts (async) as soon as its
  last gradient is done, so it overlaps the backward of the layers before it; before the optimizer
  step the engine waits for all of them (profiler label `allreduce`) and divides by N.
- **Start.** Every rank initialises from the same seed, and rank 0's weights are broadcast anyway
  (DDP does the same), so a rank can never start from other weights.
- **ZeRO-1** (`zero1`): ZeroOneOptimizer shards the optimizer state instead of replicating it -
  reduce-scatter the flattened gradients (each rank receives the sum of its 1/N slice), step that
  slice only, all-gather the updated slices into every rank's weights.
- **Faults.** The process group has a timeout (`timeout_s`): a rank that dies makes the others' next
  collective fail at once (connection closed) and a rank that hangs makes it fail after the timeout;
  either way every rank exits with one line, and `train --nproc` stops the rest and exits 1. Only
  rank 0 writes the run folder, and only whole files, so the last complete checkpoint stays. The
  ranks die with their launcher however it ends (SIGKILL too: `die_with_parent`), and a rank count
  whose processes would not fit in the memory available is refused before any starts (`check_capacity`).
"""
from __future__ import annotations

import dataclasses
import datetime
import os
import socket
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .errors import PROG, expect_one_of

BACKENDS = ("gloo", "nccl")


class DistError(RuntimeError):
    """A collective failed: another rank died, hung past the timeout, or the group could not form."""


@dataclass
class World:
    rank: int
    size: int
    local_rank: int
    backend: str
    timeout_s: float

    @property
    def is_writer(self) -> bool:
        return self.rank == 0

    def mean_(self, t: torch.Tensor) -> torch.Tensor:
        """All-reduce `t` in place to its mean over the ranks (a tensor on the backend's device)."""
        collective(dist.all_reduce, t)
        return t.div_(self.size)


def collective(fn, *args, **kw):
    """Run a collective; a failure (a rank lost, the timeout) becomes a DistError with one clear line."""
    try:
        return fn(*args, **kw)
    except (RuntimeError, dist.DistBackendError) as e:
        raise DistError(f"lost contact with the other ranks during {getattr(fn, '__name__', 'a collective')} "
                        f"({_reason(e)})") from None


def _reason(e: Exception) -> str:
    """The gist of a backend error: gloo's '[file:line] Connection closed by peer [addr]. This is...'
    becomes 'Connection closed by peer [addr]'; a timeout says so."""
    import re

    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    text = re.sub(r"^\[[^\]]*\]\s*", "", text)
    return text.split(". ")[0][:160]


def env_world() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) when started by torchrun (or any launcher setting RANK and
    WORLD_SIZE), else None."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    return rank, size, int(os.environ.get("LOCAL_RANK", rank))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init(rank: int, size: int, local_rank: int, backend: str, timeout_s: float) -> World:
    """Join the process group (MASTER_ADDR / MASTER_PORT from the environment). On nccl each rank
    takes GPU local_rank."""
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    try:
        dist.init_process_group(backend, rank=rank, world_size=size,
                                timeout=datetime.timedelta(seconds=timeout_s))
    except (RuntimeError, ValueError) as e:
        raise DistError(f"could not form the process group of {size} ({_reason(e)})") from None
    return World(rank, size, local_rank, backend, timeout_s)


# ---------------------------------------------------------------------------------------------- data

class ShardLoader:
    """Rank r's shard of each global batch of `loader` (a data.TensorLoader whose batch_size is the
    global batch N x B); see the module docstring for the last batch."""

    def __init__(self, loader, world: World):
        self.loader, self.world = loader, world

    def __len__(self) -> int:
        n, g = len(self.loader.y), self.loader.batch_size
        return n // g + (1 if n % g >= self.world.size else 0)

    def epoch(self, epoch: int):
        from .data import batches

        r, size = self.world.rank, self.world.size
        for idx in batches(self.loader.order(epoch), self.loader.batch_size):
            s = len(idx) // size
            if s == 0:
                continue
            mine = idx[r * s:(r + 1) * s]
            yield self.loader.x.index_select(0, mine), self.loader.y.index_select(0, mine)


# ---------------------------------------------------------------------------------------------- gradients

class GradBuckets:
    """The gradients' all-reduce, bucketed and overlapped with backward.

    Buckets are fixed at the first step from the order in which backward completes the parameters
    (last layer first): parameters join the open bucket until it holds at least `cap_bytes`. `ready`
    is called by the engine with each layer's parameters as soon as their .grad is final; a bucket
    whose parameters are all ready is packed into one flat buffer and its all-reduce started
    asynchronously. `wait` finishes them, divides by the number of ranks and copies the averages back
    into each .grad. Every rank completes its gradients in the same order, so the ranks start the same
    collectives in the same order, as they must."""

    def __init__(self, world: World, cap_bytes: int):
        self.world, self.cap = world, cap_bytes
        self.buckets: list[list[torch.nn.Parameter]] | None = None    # fixed after the first step
        self._order: list[torch.nn.Parameter] = []
        self._ready: set[int] = set()
        self._pending: list[tuple[list, torch.Tensor, object]] = []
        self.bytes_per_step = 0

    def ready(self, params) -> None:
        for p in params:
            self._ready.add(id(p))
            if self.buckets is None:
                self._order.append(p)
        if self.buckets is not None:
            for bucket in self.buckets:
                if all(id(p) in self._ready for p in bucket) and not any(b is bucket for b, _, _ in self._pending):
                    self._launch(bucket)

    def wait(self) -> None:
        if self.buckets is None:                         # the first step fixes the buckets, then reduces them
            self.buckets = self._assign(self._order)
        for bucket in self.buckets:
            if not any(b is bucket for b, _, _ in self._pending):
                self._launch(bucket)
        for bucket, flat, handle in self._pending:
            collective(handle.wait)
            flat.div_(self.world.size)
            for p, part in zip(bucket, flat.split([p.numel() for p in bucket])):
                p.grad.copy_(part.view_as(p.grad))
        self._pending, self._ready = [], set()

    def _assign(self, order) -> list[list]:
        buckets, current, size = [], [], 0
        for p in order:
            current.append(p)
            size += p.numel() * p.element_size()
            if size >= self.cap:
                buckets.append(current)
                current, size = [], 0
        if current:
            buckets.append(current)
        self.bytes_per_step = sum(p.numel() * p.element_size() for p in order)
        return buckets

    def _launch(self, bucket) -> None:
        flat = torch.cat([p.grad.reshape(-1) for p in bucket])
        handle = collective(dist.all_reduce, flat, async_op=True)
        self._pending.append((bucket, flat, handle))


# ---------------------------------------------------------------------------------------------- ZeRO-1

class ZeroOneOptimizer:
    """ZeRO stage 1 around one of our optimizers: each rank keeps the optimizer state of a 1/N slice
    of the flattened parameters only.

    step(): flatten every gradient into one vector (padded to a multiple of N), reduce-scatter it (rank
    r receives the sum over ranks of slice r), divide by N; step an optimizer of the same class and
    hyper-parameters over slice r of the flattened weights (every update rule here is element-wise, so
    the slice steps exactly as the whole would); all-gather the slices into the full vector and copy
    it back into the parameters. State memory per rank: 1/N of the replicated optimizer's."""

    def __init__(self, optimizer: torch.optim.Optimizer, world: World):
        self.inner, self.world = optimizer, world
        self.params = [p for g in optimizer.param_groups for p in g["params"]]
        self.numel = sum(p.numel() for p in self.params)
        self.chunk = -(-self.numel // world.size)
        p0 = self.params[0]
        lo = world.rank * self.chunk
        self.lo, self.hi = lo, min(lo + self.chunk, self.numel)
        self.flat = torch.zeros(self.chunk * world.size, dtype=p0.dtype, device=p0.device)
        self.shard = torch.nn.Parameter(self.flat[lo:lo + self.chunk].clone(), requires_grad=False)
        group = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
        self.sharded = type(optimizer)([self.shard], **group)
        self.param_groups = self.sharded.param_groups      # lr etc. as the engine's optimizer exposes them
        self._flatten_params()
        if optimizer.state:                                 # restored from a checkpoint: keep this rank's slice
            self.load_state_dict(optimizer.state_dict())

    def _flatten_params(self) -> None:
        torch.cat([p.detach().reshape(-1) for p in self.params], out=self.flat[:self.numel])
        self.shard.data.copy_(self.flat[self.lo:self.lo + self.chunk])

    def _per_param(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """The flattened vector (padding past the end ignored) cut back into the parameters' shapes: views."""
        sizes = [p.numel() for p in self.params]
        return [part.view_as(p) for p, part in zip(self.params, flat[:self.numel].split(sizes))]

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.inner.zero_grad(set_to_none)

    @torch.no_grad()
    def step(self, closure=None) -> None:
        grads = torch.zeros_like(self.flat)
        torch.cat([p.grad.reshape(-1) for p in self.params], out=grads[:self.numel])
        mine = torch.empty(self.chunk, dtype=grads.dtype, device=grads.device)
        collective(dist.reduce_scatter, mine, list(grads.split(self.chunk)))
        self.shard.grad = mine.div_(self.world.size)
        self.sharded.step()
        slices = list(self.flat.split(self.chunk))
        collective(dist.all_gather, slices, self.shard.detach().clone())
        for p, part in zip(self.params, self._per_param(self.flat)):
            p.copy_(part)

    # -- checkpoints: the full optimizer's state_dict, gathered; loaded whatever N saved it -------------
    def state_dict(self) -> dict:
        """The state a replicated optimizer would hold (gathered from every rank's slice, a collective:
        every rank must call it), in the inner optimizer's format, so a checkpoint does not depend on N."""
        state = self.sharded.state.get(self.shard, {})
        full: dict = {}
        for key in sorted(state):
            value = state[key]
            if torch.is_tensor(value) and value.shape == self.shard.shape:
                slices = [torch.empty_like(value) for _ in range(self.world.size)]
                collective(dist.all_gather, slices, value.contiguous())
                full[key] = [part.clone() for part in self._per_param(torch.cat(slices))]
            else:
                # the step count, the same on every slice; one copy per parameter (a shared tensor
                # would be counted up once per parameter at each step)
                full[key] = [value.clone() if torch.is_tensor(value) else value for _ in self.params]
        inner_sd = self.inner.state_dict()
        inner_sd["state"] = {i: {k: v[i] for k, v in full.items()} for i in range(len(self.params))} if full else {}
        for g in inner_sd["param_groups"]:
            g.update({k: v for k, v in self.sharded.param_groups[0].items() if k != "params"})
        return inner_sd

    def load_state_dict(self, sd: dict) -> None:
        """From a replicated optimizer's state_dict (any N): keep this rank's slice of each state tensor."""
        self.inner.load_state_dict(sd)
        self._flatten_params()
        state = {}
        for key in {k for s in self.inner.state.values() for k in s}:
            values = [self.inner.state[p][key] for p in self.params]
            if torch.is_tensor(values[0]) and values[0].shape == self.params[0].shape:
                flat = torch.zeros_like(self.flat)
                torch.cat([v.reshape(-1) for v in values], out=flat[:self.numel])
                state[key] = flat[self.lo:self.lo + self.chunk].clone()
            else:
                state[key] = values[0].clone() if torch.is_tensor(values[0]) else values[0]
        self.inner.state.clear()                            # the full copy is not kept: that is ZeRO-1's point
        self.sharded.state[self.shard] = state
        for g in self.sharded.param_groups:
            g.update({k: v for k, v in sd["param_groups"][0].items() if k != "params"})


# ---------------------------------------------------------------------------------------------- engines

SUPPORTED = ("reference", "manual", "fused")


def check_options(engine: str, zero1: bool = False, inspect=None) -> None:
    """What a data-parallel run of `engine` refuses, as a ValueError naming the option: an engine without
    the all-reduce, ZeRO-1 for reference (DDP), per-layer inspection (one rank's statistics are not the
    run's). The launcher checks before it starts ranks; each rank again (attach, train)."""
    if engine not in SUPPORTED:
        raise ValueError(f"nproc: data parallelism runs the {', '.join(SUPPORTED)} engines, not {engine!r} "
                         "(compiled code would have to be compiled with the all-reduce inside)")
    if zero1 and engine == "reference":
        raise ValueError("zero1: written out for the hand-written engines (manual, fused); reference uses DDP "
                         "(torch's ZeroRedundancyOptimizer would be the counterpart)")
    if inspect is not None:
        raise ValueError("inspect: one rank's statistics are not the run's; inspect a one-process run")


def attach(engine, world: World, bucket_kb: float, zero1: bool) -> None:
    """Make `engine` data-parallel over `world`: rank 0's weights broadcast, then DDP (reference), or
    for manual and fused GradBuckets' all-reduce or, with zero1, ZeroOneOptimizer's reduce-scatter."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    check_options(engine.name, zero1)
    params = list(engine.model.parameters())
    with torch.no_grad():
        for p in params:
            collective(dist.broadcast, p.data, 0)
    if engine.name == "reference":
        ids = [engine.device.index] if engine.device.type == "cuda" else None
        engine.forward_module = DDP(engine.model, device_ids=ids, bucket_cap_mb=bucket_kb / 1024)
    else:
        if hasattr(engine, "whole_step"):
            engine.whole_step = False          # the one-call step / graph has no place for the all-reduce
        if zero1:                              # its reduce-scatter takes the all-reduce's place
            engine.optimizer = ZeroOneOptimizer(engine.optimizer, world)
        else:
            engine.grad_sync = GradBuckets(world, int(bucket_kb * 1024))


# What one CPU rank of SimpleNet holds (an interpreter with torch, the data, the engine): ~220 MB
# resident each, as measured by the bad-input probe of issue 30 on a 2-core Xeon; with a margin.
RANK_BYTES = 300 << 20


def available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is none: not Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_capacity(nproc: int) -> str | None:
    """Before starting `nproc` ranks on this machine: a ValueError naming nproc when their memory (about
    RANK_BYTES each) exceeds what is available now; a warning line to print when they outnumber the
    cores (they then take turns, and every step waits for the slowest); None when they fit."""
    available = available_memory()
    if available is not None and nproc * RANK_BYTES > available:
        raise ValueError(f"nproc: {nproc} ranks need about {nproc * RANK_BYTES / 2**30:.1f} GiB "
                         f"({RANK_BYTES >> 20} MiB each); this machine has {available / 2**30:.1f} GiB available")
    cores = os.cpu_count() or 1
    if nproc > cores:
        return (f"data parallel: {nproc} ranks share {cores} cores; they take turns, so each step is slower "
                "than in one process (starting them takes a while)")
    return None


def die_with_parent(parent: int) -> None:
    """End this rank when its launcher (pid `parent`) ends, however it ends: killed by SIGKILL (an
    out-of-memory killer, a job scheduler), nothing in the launcher runs to stop its ranks, which
    trained on for minutes. On Linux the kernel sends this process SIGKILL when its parent dies
    (prctl PR_SET_PDEATHSIG); elsewhere a thread watches the parent's pid."""
    import signal

    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) == 0:       # 1 = PR_SET_PDEATHSIG
            if os.getppid() != parent:                                # it died before the line above
                os._exit(1)
            return
    import threading
    import time

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="die_with_parent", daemon=True).start()


def worker_main(rank: int, size: int, backend: str, timeout_s: float, run, parent: int | None = None) -> None:
    """One rank of `train --nproc`: join the group, run `run(world)`, leave; errors as one line. It dies
    with the launcher `parent` (its pid) if that ends first."""
    from .errors import UsageError

    if parent is not None:
        die_with_parent(parent)
    code = 0
    try:
        # the ranks share this machine's cores: oversubscribed threads spin against each other
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // size))
        world = init(rank, size, rank, backend, timeout_s)
        run(world)
        collective(dist.barrier)                # every rank done with every collective, then leave
    except UsageError as e:
        if rank == 0:
            sys.stderr.write(f"{PROG}: error: {e}\n")
        code = 2
    except DistError as e:
        sys.stderr.write(f"{PROG}: rank {rank}: {e}\n")
        code = 1
    except KeyboardInterrupt:
        code = 130
    except Exception as e:                      # noqa: BLE001 - a bug: still one line, and the others stop
        sys.stderr.write(f"{PROG}: rank {rank} failed: {type(e).__name__}: {str(e).strip()[:300]}\n")
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave without the interpreter's teardown: a communication thread still alive when C++ statics
    # are destroyed aborts the process ("terminate called without an active exception"), and a broken
    # group's atexit work can hang.
    os._exit(code)


def leave() -> None:
    """Leave the process group: DDP's reducer and the buckets' pending work are freed first (they hold
    the group), then the group is destroyed."""
    import gc

    gc.collect()
    if dist.is_initialized():
        dist.destroy_process_group()


def supervise(procs, grace_s: float, wait=None, clock=None) -> tuple[int, int] | None:
    """Wait for every process to end; once one fails, give the rest `grace_s` seconds, then kill them.
    Returns (index, exit code) of the first that failed, or None. `wait` and `clock` default to
    multiprocessing.connection.wait and time.monotonic (tests pass scripted ones).

    One look at each process per round, and everything decided from that look: one seen alive is
    waited on (its exit wakes wait()), one seen ended has its exit code read now. Looking twice left
    windows: a process that ended between the looks was neither waited on nor counted as failed, and
    wait() blocked on the others forever (seen in CI: a hung rank outlived the failed one)."""
    import time
    from multiprocessing import connection

    wait = wait or connection.wait
    clock = clock or time.monotonic
    first, deadline = None, None
    while True:
        alive = []
        for i, p in enumerate(procs):
            if p.is_alive():
                alive.append(p)
            elif p.exitcode not in (0, None) and first is None:
                first, deadline = (i, p.exitcode), clock() + grace_s
        if not alive:
            return first
        if deadline is not None and clock() >= deadline:
            for p in alive:
                p.kill()
            return first
        wait([p.sentinel for p in alive], timeout=None if deadline is None else max(0.0, deadline - clock()))


def launch(nproc: int, backend: str, timeout_s: float, run) -> int:
    """Start `nproc` ranks of `run(world)` on this machine (spawned processes, a free local port) and
    wait. When a rank fails, the others are given the group's timeout to notice and leave with their
    own one-line message, then stopped. Returns 0, or the exit code of the first rank that failed
    (1: lost contact; 2: a usage error; 130: interrupted; a rank killed by a signal counts as 1)."""
    import multiprocessing

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(free_port())
    # c10d logs a failure to form the group (or a lost peer) with a C++ stack of 40 frames before the
    # exception that worker_main turns into one line: the ranks log C++ errors only when fatal, unless
    # the user set TORCH_CPP_LOG_LEVEL (the spawned interpreters read it when they import torch).
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "FATAL")
    spawn = multiprocessing.get_context("spawn")     # a fresh interpreter per rank: no state forked into it
    procs = [spawn.Process(target=worker_main, args=(rank, nproc, backend, timeout_s, run, os.getpid()))
             for rank in range(nproc)]
    for p in procs:
        p.start()
    try:
        first = supervise(procs, timeout_s + 10)
    except KeyboardInterrupt:
        for p in procs:
            p.join(10)
        return 130
    for p in procs:
        p.join()
    if first is None:
        return 0
    index, code = first
    if code < 0:
        import signal

        sys.stderr.write(f"{PROG}: rank {index} was killed ({signal.Signals(-code).name}); the other ranks "
                         "stopped\n")
    return code if code in (1, 2, 130) else 1


def run(train_rank, cfg, out, resume: bool, *, overwrite: bool, backend: str, bucket_kb: float, zero1: bool,
        timeout_s: float, nproc_asked: int | None = None, inspect=None, log=print) -> int:
    """A data-parallel training run of `cfg` into `out`, each rank running `train_rank` (train.train_rank,
    passed in: the loop sits above this module): this process as one rank when torchrun started it
    (RANK, WORLD_SIZE set), else cfg.nproc ranks started here (launch). Everything that can be refused
    is refused before any rank starts, as a ValueError naming the option; the run folder is the caller's
    to check first. Returns the exit code: 0, or launch's (1 lost contact, 2 bad input, 130 interrupted)."""
    import functools

    from .engines import resolve_device

    expect_one_of("backend", backend, BACKENDS)
    if backend == "nccl":
        if resolve_device(cfg.device).type != "cuda":            # cfg.device may say "auto"
            raise ValueError("backend: nccl runs on GPUs; use --device cuda, or gloo on the CPU")
        if cfg.nproc > torch.cuda.device_count():
            raise ValueError(f"nproc: nccl takes one GPU a rank; {cfg.nproc} ranks, {torch.cuda.device_count()} GPUs")
    check_options(cfg.engine, zero1, inspect)
    env = env_world()
    if env is not None:                                # torchrun started this process as one rank
        rank, size, local = env
        if nproc_asked is not None and nproc_asked != size:
            raise ValueError(f"nproc: torchrun started {size} ranks, --nproc says {nproc_asked}")
        cfg = dataclasses.replace(cfg, nproc=size)
        try:
            world = init(rank, size, local, backend, timeout_s)
        except DistError as e:
            raise ValueError(str(e)) from None
        try:
            train_rank(cfg, out, resume, overwrite, bucket_kb, zero1, world)
        except DistError as e:
            sys.stderr.write(f"{PROG}: rank {rank}: {e}\n")
            sys.stderr.flush()
            os._exit(1)                               # a broken group's teardown can hang: leave at once
        leave()
        return 0
    note = check_capacity(cfg.nproc)
    log(f"data parallel: {cfg.nproc} ranks ({backend}), global batch {cfg.nproc} x {cfg.batch_size}")
    if note:
        log(note)
    return launch(cfg.nproc, backend, timeout_s,
                  functools.partial(train_rank, cfg, out, resume, overwrite, bucket_kb, zero1))
