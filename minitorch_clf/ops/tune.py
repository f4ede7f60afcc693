"""The CPU GEMM tuned by measurement on the CPU it runs on, as FFTW's wisdom and ATLAS's install-time
search are: for each product of a model's training step, time candidate plans and keep the fastest.

    minitorch-clf tune --batch-sizes 64,1024     the full search, derived vs tuned per product, cached
    the fused engine's first CPU step            a short search for the shapes of its batch, cached
    MINITORCH_CLF_TUNE=0                         the derived plans only: no search, no cache read

A plan (kernels/cpu/gemm/gemm.h) is what the GEMM decides per product: the instruction set (AVX-512 or AVX2:
some Intel parts clock lower under AVX-512), the kernel (dot products or outer products), the outer kernel's K
block (the packed rows of A follow from it and L2), the threads and how the work is cut between them (C by
columns first or rows first, or K into one range per thread). The derived plan makes those choices by rules
from the caches and from measurements on one CPU; the search starts there and moves one choice of one product
at a time (coordinate descent, the big products first), each pass first trying every product of one layer on one
thread, or on all (_layer_moves: moved alone, one of them reads what the others wrote from the other core's
cache). The threads and cut of a product the step runs inside a parallel region of its own are not raced
(_cut_unseen): they stay the derived plan's. Each race times the whole fused SGD step
(mlp_sgd_step_), the candidate's plans against the best plans so far, in turns; the candidate
wins only when the step is faster by more than MARGIN, in two races (one race's medians spread by more than
MARGIN on a noisy VM): what the engine runs is the step, and a plan's effect
on the caches the other products find counts there. (Whether that ever differs from racing each product alone
was not seen: the first version raced products alone, in a fixed order, and the order itself made 4-8% of
difference between identical calls - benchmarks/RESULTS.md, 2026-12-04; interleaved_samples now shuffles it.)
The short search makes one pass over the choices, the full one passes until nothing changes (at most three)
and times each sample of its races over at least FULL_SAMPLE_STEPS steps (at batch 1024 a 2 ms sample is one
step, whose spread hid fc2's dW cut by k, 3% of the step: RESULTS.md, 2026-12-06, ninth session); then a
longer race of the winners against the derived plans decides, and the derived ones stay unless the winners are
faster there too, by more than MARGIN as in every race. (That bar does not make a drifting machine's result
stable: on the 2-core Xeon, 2026-12-05, the short search at batch 64 cached plans that had won the last race
by 2%; five later `bench --gemm` runs put the step on them at 0.95-1.04x the step on the derived ones.)

The cache is one JSON file per CPU (its model, family/model/stepping, instruction sets and caches),
thread count and build of the GEMM's sources, in `cache_path()` (MINITORCH_CLF_TUNE_DIR moves it); it records each product's plan with
the search's timings (and STEP_LR, the rate of the step its races timed). A damaged file, or one made
for another CPU, thread count, build, timed step or search, is ignored
with one warning line and written over by the next search. Before a plan is installed it runs once
on random operands of its shape and is checked against the scalar kernel (within the error bound of
a float32 sum of K products, for both): a plan that disagrees refuses the whole cache with a warning.

A search times the step, so it needs the cores to itself. Its races read how long this process's threads
waited for a core while they ran (the kernel's run delay: cpu_wait.py); where they waited more
than BUSY of the races' time, other processes had the CPU and the races timed them, not the plans: the search
stops (CpuBusy, _Waits). At first use the derived plans then run for that batch in this process, nothing is
cached, and a later process searches again; `minitorch-clf tune` says so and writes nothing. (On the 2-core
Xeon, 2026-12-07, beside one busy loop, the short search at batch 64 took 38-51 s instead of 1.2, its threads
waiting 49% of it; alone they waited 0.3%. Two `train` runs started together both searched so, and cached
what they found.)
One process searches a cache at a time (an flock on a file beside it): a second one waits, then reads what the
first wrote, and searches only the shapes still missing (the ranks of `train --nproc` start together).

Bits: a tuned plan sums in its kernel's order, so a tuned GEMM need not give the derived plan's bits
(still the same bits for any thread count within a process: the plans installed do not change
with torch.set_num_threads; the cache read at the first step does depend on it).
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import json
import os
import random
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

from ..cpu_wait import BUSY, TIMED, Tally
from . import _lib, direct
from .build import build_root, kernel_dir

ENV = "MINITORCH_CLF_TUNE"
# The learning rate of every step that is timed on one batch, over and over: the tuner's races and `bench
# --gemm`'s step here, `bench`'s step mode (tools/bench.py, ~800 steps per engine). Training on one batch
# memorises it, and the timed step drifts into arithmetic that training on a data set never runs:
#   - at lr 0.01 Adam memorised a batch of 64 within a hundred steps (loss 1e-7), the softmax saturated
#     and its probabilities became subnormal floats. On Intel each FMA that meets a subnormal takes a
#     microcode assist: the fused Adam step ran 4x slower, the seed's 1.7x, jax's (XLA flushes subnormals
#     to zero) not at all (benchmarks/RESULTS.md, 2026-12-05, sixth session);
#   - at 1e-6 batches of 1 to 16 were still memorised, more slowly: from about step 750 on, ReLU units of
#     fc1 and fc2 went dark, their gradients became exact zeros, and their momentum decayed, 0.9 per step,
#     into the subnormals, where it stays (0.9 x k ulp rounds back to k ulp for k <= 4). The SGD update at
#     batch 1 then took 61-64 us instead of 11 (benchmarks/RESULTS.md, 2026-12-06).
# At 1e-12, p - lr x b rounds back to p for all but the tiniest weights (after 3,000 steps of SimpleNet at
# batch 1, 4 of its 109,184 weights had moved; at 16 and 64, one): the weights stay where they start, the
# timed step is the first step of training, and it costs what any step costs (the rate does not enter
# the work).
STEP_LR = 1e-12
FORMAT = 1
SEARCH = 3                     # the search's version: plans found by an earlier one are searched anew (2: layer
                               # moves; 3: no thread count or cut the step does not see, _cut_unseen)
FULL_SAMPLE_STEPS = 6          # the full search's races: each sample times at least this many steps
MARGIN = 0.015               # a candidate replaces the best plan only when the step is faster by more
LAYOUTS = ("rows", "columns", "strided")          # gemm::Layout's order
KERNELS = ("dot", "outer")                        # gemm::Kernel's
SPLITS = ("columns", "rows", "k")                 # gemm::Split's: C cut along N or M first, or K cut
ISA_CODES = {"avx512": 1, "avx2": 2, "scalar": 3}   # gemm::Isa's


class TuneCacheWarning(UserWarning):
    """The tuning cache was not used (damaged, made elsewhere, or a plan failed its check)."""


class CpuBusy(RuntimeError):
    """A search stopped: other processes had the CPU, so its races timed them, not the plans."""

    def __init__(self, batch_size: int, waited: float):
        self.batch_size, self.waited = batch_size, waited
        super().__init__(f"other processes had the CPU during the search at batch {batch_size}: its threads waited "
                         f"for a core {waited:.0%} of its races' time (more than {BUSY:.0%}), so they timed them")


@dataclasses.dataclass(frozen=True)
class Shape:
    """A product C (M, N) = A (M, K) · B (K, N) and how its operands lie in memory (LAYOUTS)."""
    M: int
    N: int
    K: int
    a: str
    b: str

    @classmethod
    def of(cls, a: torch.Tensor, b: torch.Tensor) -> Shape:
        return cls(a.shape[0], b.shape[1], a.shape[1], _layout(a), _layout(b))

    def ints(self) -> list[int]:
        return [self.M, self.N, self.K, LAYOUTS.index(self.a), LAYOUTS.index(self.b)]

    def key(self) -> str:
        return f"{self.M}x{self.N}x{self.K} {self.a}·{self.b}"

    def operands(self, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        return _laid_out(self.M, self.K, self.a, g), _laid_out(self.K, self.N, self.b, g)


def _layout(t: torch.Tensor) -> str:
    return "rows" if t.stride(1) == 1 else "columns" if t.stride(0) == 1 else "strided"


def _laid_out(rows: int, cols: int, layout: str, g: torch.Generator) -> torch.Tensor:
    if layout == "rows":
        return torch.randn(rows, cols, generator=g)
    if layout == "columns":
        return torch.randn(cols, rows, generator=g).T
    return torch.randn(rows, 2 * cols, generator=g)[:, ::2]


@dataclasses.dataclass(frozen=True)
class Plan:
    isa: str                  # avx512, avx2 or scalar
    kernel: str               # KERNELS
    k_block: int              # the outer kernel's K block (0 where the plan has none)
    threads: int
    split: str                # SPLITS

    def ints(self) -> list[int]:
        return [ISA_CODES[self.isa], KERNELS.index(self.kernel), self.k_block, self.threads, SPLITS.index(self.split)]

    @classmethod
    def from_ints(cls, v) -> Plan:
        isa = next(name for name, code in ISA_CODES.items() if code == v[0])
        return cls(isa, KERNELS[v[1]], int(v[2]), int(v[3]), SPLITS[v[4]])

    def __str__(self) -> str:
        k = f" k{self.k_block}" if self.kernel == "outer" and self.isa != "scalar" else ""
        split = f" by {self.split}" if self.threads > 1 else ""
        return f"{self.isa} {self.kernel}{k} {self.threads}t{split}"


# ------------------------------------------------------------------------------------------------
# the products of a step

def step_products(batch_size: int, sizes, seed: int = 0):
    """The products of an MLP step with layer widths `sizes` (e.g. (784, 128, 64, 10)) as (name, a, b)
    in the layouts the fused ops pass them, and mlp_products' inputs (acts, weights, dzs).

    The weights are drawn as nn.Linear draws them, U(-1/sqrt(I), 1/sqrt(I)), so that a step timed on
    them (sgd_step) computes what a training step computes. Unscaled randn weights give logits in the
    hundreds, a saturated softmax and subnormal probabilities; on Intel every FMA that meets a subnormal
    operand takes a microcode assist, and the step ran 6x slower there (benchmarks/RESULTS.md, 2026-12-05)."""
    g = torch.Generator().manual_seed(seed)
    acts = [torch.randn(batch_size, i, generator=g) for i in sizes[:-1]]          # layer k's input (N, I_k)
    weights = [(2 * torch.rand(o, i, generator=g) - 1) / i ** 0.5                 # (O_k, I_k)
               for i, o in zip(sizes, sizes[1:])]
    dzs = [torch.randn(batch_size, o, generator=g) for o in sizes[1:]]            # its output gradient (N, O_k)
    products = [(f"fc{k + 1} y = x·Wᵀ", h, w.T) for k, (h, w) in enumerate(zip(acts, weights))]
    products += [(f"fc{k + 1} dW = dzᵀ·x", dz.T, h) for k, (dz, h) in enumerate(zip(dzs, acts))]
    products += [(f"fc{k + 1} dx = dz·W", dz, w) for k, (dz, w) in enumerate(zip(dzs, weights)) if k > 0]
    return products, (acts, weights, dzs)


def step_shapes(batch_size: int, sizes) -> list[tuple[str, Shape]]:
    """(name, Shape) of each product of the step (step_products' order)."""
    products, _ = step_products(batch_size, sizes)
    return [(name, Shape.of(a, b)) for name, a, b in products]


# ------------------------------------------------------------------------------------------------
# timing

def shuffled_rounds(items: list, rounds: int, seed: int = 0):
    """`rounds` rounds over `items`, each in a new order (seeded). In a fixed order an item follows the
    same neighbour every round, and what that neighbour leaves in the caches becomes part of its time:
    two identical GEMM calls, one after the whole step and one after MKL's products, came 4-8% apart
    (benchmarks/RESULTS.md, 2026-12-04). Every interleaved timing of the project takes its turns so."""
    rng = random.Random(seed)
    for _ in range(rounds):
        yield rng.sample(items, len(items))


def interleaved_samples(calls: dict, rounds: int, target_s: float = 2e-3,
                        min_calls: int = 1, tally: Tally = TIMED) -> dict[str, list[float]]:
    """Seconds per call of each callable in each round, the callables taking turns within a round (drift
    on the machine hits them alike); a round runs each enough times to last about target_s, and at least
    min_calls times: each its own count, from its own time in the warm-up. (Until 2026-12-07 every callable
    ran the first one's count: bench --gemm's numpy phase then ran fc3's 15 us products once or twice a
    sample, after fc1's millisecond one, where ours ran a hundred times in a row - RESULTS.md, nineteenth
    session.) Each round takes them in a new order (shuffled_rounds). The rounds' wait for a core goes into
    `tally` (cpu_wait.py: bench's TIMED, or a search's own)."""
    iters = {}
    for name, f in calls.items():                                  # warm-up, then each one's first estimate
        f()
        t0 = time.perf_counter()
        f()
        iters[name] = max(min_calls, int(target_s / max(time.perf_counter() - t0, 1e-7)))
    samples = {name: [] for name in calls}
    with tally.block():                                            # the rounds, not the warm-up
        for turn in shuffled_rounds(list(calls), rounds):
            for name in turn:
                f, n = calls[name], iters[name]
                t0 = time.perf_counter()
                for _ in range(n):
                    f()
                samples[name].append((time.perf_counter() - t0) / n)
    return samples


def medians(calls: dict, rounds: int, target_s: float = 2e-3, min_calls: int = 1,
            tally: Tally = TIMED) -> dict[str, float]:
    """Median seconds per call of each callable, timed in turns (interleaved_samples)."""
    return {name: statistics.median(s)
            for name, s in interleaved_samples(calls, rounds, target_s, min_calls, tally).items()}


# ------------------------------------------------------------------------------------------------
# the search

def derived_plan(shape: Shape) -> Plan:
    """The rules' plan for the shape with the widest ISA (what runs with MINITORCH_CLF_TUNE=0)."""
    return Plan.from_ints(_lib().gemm_plan(shape.ints(), _isas()[0])[:5])


def _isas() -> list[str]:
    return [isa for isa in _lib().cpu_isas() if isa != "scalar"] or ["scalar"]


def _choices(shape: Shape, plan: Plan, threads: int, cut_seen: bool = True) -> list[Plan]:
    """The plans that differ from `plan` in one choice (a thread count, with any cut, counts as one); without
    the thread count and the cut where the step does not see them (cut_seen False: _cut_unseen)."""
    out = [dataclasses.replace(plan, isa=isa) for isa in _isas() if isa != plan.isa]
    if shape.a == "rows" and shape.b == "columns":
        out.append(dataclasses.replace(plan, kernel="dot" if plan.kernel == "outer" else "outer"))
    if plan.kernel == "outer" and plan.isa != "scalar":
        whole = -(-shape.K // 8) * 8                       # the whole of K in one block
        for k in sorted({plan.k_block // 2, plan.k_block * 2, whole}):
            if 16 <= k <= whole and k != plan.k_block:
                out.append(dataclasses.replace(plan, k_block=k))
    # Another thread count; from one thread, with any cut: a one-thread plan's cut is no choice made,
    # and the cut the product's consumer needs may be another (the SGD update reads each thread's rows of
    # a dW: at batch 1 to 4, fc1's dW cut by rows made the step 20% faster, RESULTS.md, 2026-12-06).
    if not cut_seen:
        return out
    splits = SPLITS if plan.threads == 1 else (plan.split,)
    out += [dataclasses.replace(plan, threads=t, split=split) for t in range(2, threads + 1) for split in splits
            if (t, split) != (plan.threads, plan.split)]
    if plan.threads > 1:
        out.append(dataclasses.replace(plan, threads=1))
        out += [dataclasses.replace(plan, split=split) for split in SPLITS if split != plan.split]
    return out


def _layer_moves(layers: dict[str, list[Shape]], best: dict[Shape, Plan], threads: int) -> list[dict[Shape, Plan]]:
    """The trials that move every product of one layer at once: all of them on one thread, or all on `threads`
    (each keeping its cut). A layer's products read what the others wrote - its input, its weight, its output's
    gradient - so one of them moved to another core alone reads its operands from the other core's cache, and
    all of them moved keep them on one. On the 2-core Xeon of 2026-12-06 (model 167) fc2's three products at
    batch 64 ran on two threads; each moved to one thread alone made the step between 4% faster and 3% slower,
    all three together 2-9% faster (at 128, 2% slower), and a search that moves one product at a time did not
    get there (RESULTS.md, eleventh session). A layer with one product to move is left to _choices."""
    out = []
    for shapes in layers.values():
        for t in sorted({1, threads}):
            moved = {s: dataclasses.replace(best[s], threads=t) for s in shapes if best[s].threads != t}
            if len(moved) > 1:
                out.append(moved)
    return out


def _cut_unseen(names: list[tuple[str, Shape]], acts, weights) -> set[Shape]:
    """The shapes whose plan's threads and cut the step does not use: where it cuts the layers after the first by
    rows (train_step.cpp's by_rows, from 128 rows on with two threads), their forward and dx products run inside
    one parallel region, a thread each. A race of the step cannot see those two choices, so one won there wins by
    the machine's noise, and then runs wherever the shape is called alone: on the 2-core Xeon (2026-12-07) the
    short search at batch 1024 had put fc2's and fc3's dx products on one thread, where bench --gemm timed them
    alone at 1.46-1.95x the derived plan's time (RESULTS.md, twentieth session). A shape some other product of the
    step has too keeps its choices."""
    if len(weights) < 2 or not _lib().layers_cut_by_rows(acts[1], weights, "relu"):
        return set()
    outside = {shape for name, shape in names if name.startswith("fc1 ") or " dW " in name}
    return {shape for _, shape in names} - outside


def sgd_step(acts, weights) -> functools.partial:
    """step(): one SGD step with momentum of the MLP whose layers `weights` holds (ReLU between them),
    on the batch acts[0] with random targets, by mlp_sgd_step_'s CPU kernel called as the fused engine calls it
    (ops.direct().sgd_step: without the dispatcher). At STEP_LR
    thousands of timed steps leave the weights (copies) where they were. step.args holds the step's
    tensors: x, y, the weights, the biases and the momentum buffers."""
    weights = [w.clone() for w in weights]
    biases = [torch.zeros(w.shape[0]) for w in weights]
    bufs = [torch.zeros_like(p) for w, b in zip(weights, biases) for p in (w, b)]
    x = acts[0]
    y = torch.randint(0, weights[-1].shape[0], (x.shape[0],), generator=torch.Generator().manual_seed(1))
    return functools.partial(direct().sgd_step, x, y, weights, biases, bufs, "relu", STEP_LR, 0.9, 0.0, 0.0,
                             False, False)


@dataclasses.dataclass
class StepResult:
    """The search's outcome for the step at one batch size."""
    batch_size: int
    products: list[tuple[str, Shape, Plan, Plan]]    # (name, shape, tuned plan, derived plan), step order
    seconds: float            # the step on the tuned plans, median per step, timed in turns with ...
    derived_seconds: float    # ... the step on the derived plans
    search: str               # "short" or "full"

    def entries(self) -> list[dict]:
        """The cache's entries, one per distinct shape."""
        out = {}
        for _, shape, plan, derived in self.products:
            out[shape.key()] = {"shape": dataclasses.asdict(shape), "plan": dataclasses.asdict(plan),
                                "derived": dataclasses.asdict(derived), "batch_size": self.batch_size,
                                "step_seconds": self.seconds, "derived_step_seconds": self.derived_seconds,
                                "search": self.search}
        return list(out.values())


def _running(plans: dict[Shape, Plan], work, installed: list):
    """work() with `plans` as the tuned table: installed where the last call left another one (once per
    turn of the races, not per call)."""
    rows = [v for shape, plan in plans.items() for v in shape.ints() + plan.ints()]
    token = object()

    def run():
        if installed[0] is not token:
            _lib().set_gemm_plans(rows)
            installed[0] = token
        work()

    return run


class _Waits(Tally):
    """The wait of one search's races (their rounds, cpu_wait.Tally): check() raises CpuBusy once the races so far
    add up to MIN_SECONDS and their threads waited for a core more than BUSY of their time (final=True: whatever
    they add up to). Counted over all the races, not each one: alone on the 2-core Xeon, one race in a hundred of a
    few milliseconds met a 3 ms wait (another thread or a kernel worker took the core), 10% of that race."""
    MIN_SECONDS = 0.25

    def __init__(self, batch_size: int, threads: int):
        super().__init__()
        self.batch_size, self.threads = batch_size, threads

    def check(self, final: bool = False) -> None:
        share = self.share(self.threads)
        if (final or self.seconds >= self.MIN_SECONDS) and share is not None and share > BUSY:
            raise CpuBusy(self.batch_size, share)


def search(batch_size: int, sizes, full: bool = False, log=None) -> StepResult:
    """The fastest plans found for the products of the step at this batch (module docstring): each race
    times the whole step, so a plan wins by what it does there, caches shared with the other products.
    log, where given, gets one line per pass and one before the last race (a full search at batch 4096 takes
    a minute on 2 cores). Raises CpuBusy where other processes had the CPU during a race (module docstring)."""
    products, (acts, weights, _) = step_products(batch_size, sizes)
    names = [(name, Shape.of(a, b)) for name, a, b in products]
    shapes = sorted(dict.fromkeys(shape for _, shape in names), key=lambda s: -s.M * s.N * s.K)  # big ones first
    step, installed = sgd_step(acts, weights), [None]
    derived = {shape: derived_plan(shape) for shape in shapes}
    best = dict(derived)
    layers: dict[str, list[Shape]] = {}            # "fc2" -> the shapes of its products
    for name, shape in names:
        layers.setdefault(name.split()[0], []).append(shape)
    unseen = _cut_unseen(names, acts, weights)
    layers = {layer: [s for s in dict.fromkeys(shapes) if s not in unseen] for layer, shapes in layers.items()}
    rounds, target, min_calls = (9, 2e-3, FULL_SAMPLE_STEPS) if full else (5, 2e-3, 1)
    threads = torch.get_num_threads()

    waits = _Waits(batch_size, threads)

    def ahead(best, trial) -> bool:
        t = medians({"best": _running(best, step, installed), "trial": _running(trial, step, installed)},
                    rounds, target, min_calls, tally=waits)
        waits.check()
        return t["trial"] < (1 - MARGIN) * t["best"]

    def wins(best, trial) -> bool:
        """Ahead in two races: one race's medians spread by more than MARGIN on a noisy machine, and
        a pass runs dozens of races."""
        return ahead(best, trial) and ahead(best, trial)

    stages = {"derived": derived}                   # the plans the last race times
    started, passes = time.perf_counter(), 3 if full else 1
    try:
        for n in range(passes):
            tried, won = 0, 0
            for layer_move in _layer_moves(layers, best, threads):     # whole layers first, then one product
                trial = {**best, **layer_move}
                tried += 1
                if wins(best, trial):
                    best, won = trial, won + 1
            if n == 0:
                stages["layers"] = best
            for shape in shapes:
                for candidate in _choices(shape, best[shape], threads, shape not in unseen):
                    trial = {**best, shape: candidate}
                    tried += 1
                    if wins(best, trial):
                        best, won = trial, won + 1
            if log:
                log(f"batch {batch_size}: pass {n + 1} of at most {passes}: {won} of {tried} moves won "
                    f"({time.perf_counter() - started:.0f} s so far)")
            if not won:
                break
        stages["tuned"] = best
        # The last word is a longer race between the derived plans, the plans after the first layer moves and
        # the plans the search ended on: winners that came out ahead by chance in short races do not replace
        # the derived plans, nor undo a layer's move (on the 2-core Xeon the short search at batch 64 moved
        # fc2's layer to one thread, then kept one-product moves that took the gain back).
        distinct = {}
        for name, plans in stages.items():
            if plans not in distinct.values():
                distinct[name] = plans
        if log:
            said = {"derived": "the derived plans", "layers": "those after the layer moves", "tuned": "the search's"}
            log(f"batch {batch_size}: the last race: {', '.join(said[name] for name in distinct)}")
        t = medians({name: _running(plans, step, installed) for name, plans in distinct.items()},
                    2 * rounds + 1, target, min_calls, tally=waits)
        waits.check(final=True)
    finally:
        _reinstall()
    fastest = min(t, key=t.get)
    if t[fastest] >= (1 - MARGIN) * t["derived"]:     # the same bar as every race: ahead by more than MARGIN
        fastest = "derived"
    best = distinct[fastest]
    return StepResult(batch_size, [(name, shape, best[shape], derived[shape]) for name, shape in names],
                      t[fastest], t["derived"], "full" if full else "short")


def check(shape: Shape, plan: Plan, seed: int = 1) -> float | None:
    """Run `plan` once on random operands of `shape` against the scalar kernel: None where they agree
    within twice the float32 bound of a K-term sum (K u Σ|a||b| for each), else the worst excess ratio."""
    a, b = shape.operands(seed)
    got = _lib().own_mm_plan(a, b, plan.ints())
    ref = _lib().own_mm(a, b, "scalar")
    bound = 2 * max(shape.K, 1) * 2.0**-24 * (a.abs().double() @ b.abs().double()) + 1e-30
    ratio = ((got.double() - ref.double()).abs() / bound).max().item() if got.numel() else 0.0
    return None if ratio <= 1 else ratio


# ------------------------------------------------------------------------------------------------
# the cache

def mode() -> str:
    """'auto' (the default: read the cache, search the shapes it lacks at first use) or 'off' (the
    derived plans only), from MINITORCH_CLF_TUNE ('1' or unset, '0')."""
    value = os.environ.get(ENV, "1")
    if value not in ("0", "1"):
        raise ValueError(f"{ENV}: expected 0 (derived plans only) or 1 (tune at first use), got {value!r}")
    return "auto" if value == "1" else "off"


def identity() -> dict:
    """What a cache is valid for: the CPU, its instruction sets and caches, the thread count, the
    GEMM's sources, the learning rate of the step its races timed (plans raced at another rate, where
    the step met subnormal floats, are not reused) and the search's version (SEARCH)."""
    info = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu family", "model", "stepping") and key not in info:
                info[key] = value.strip()
    except OSError:
        pass
    blocking = _lib().gemm_blocking("scalar")
    sources = sorted((kernel_dir() / "cpu" / "gemm").glob("*"))
    digest = hashlib.sha1(b"".join(p.name.encode() + p.read_bytes() for p in sources if p.is_file())).hexdigest()
    return {"cpu": info, "isas": list(_lib().cpu_isas()), "L1d": blocking[0], "L2": blocking[1],
            "threads": torch.get_num_threads(), "gemm_sources": digest[:16], "step_lr": STEP_LR,
            "search": SEARCH}


def cache_path(ident: dict | None = None) -> Path:
    """The cache file of this CPU, thread count and build: in $MINITORCH_CLF_TUNE_DIR, else beside the
    kernels' build (build_root()/tune)."""
    ident = ident or identity()
    tag = hashlib.sha1(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]
    folder = Path(os.environ.get("MINITORCH_CLF_TUNE_DIR") or build_root() / "tune")
    return folder / f"gemm-{ident['isas'][0]}-{ident['threads']}t-{tag}.json"


_state: dict = {}     # "ident", "path", "entries" (shape key -> cache entry), "installed" (shape key -> Plan)


def _warn(message: str) -> None:
    warnings.warn(message, TuneCacheWarning, stacklevel=3)


def _read(path: Path, ident: dict) -> dict[str, dict]:
    """The cache's entries by shape key; {} where there is none, and a warning where it is unusable."""
    try:
        text = path.read_text()
    except (FileNotFoundError, NotADirectoryError):       # none yet (a folder that cannot be is _write's to say)
        return {}
    except OSError as e:
        _warn(f"ignoring the GEMM tuning cache {path}: cannot read it ({e.strerror or e})")
        return {}
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"expected a JSON object of format {FORMAT}")
        if data.get("identity") != ident:
            _warn(f"ignoring the GEMM tuning cache {path}: it was made for another CPU, thread count, build, timed step or search")
            return {}
        entries = {}
        for e in data["plans"]:
            shape, plan = Shape(**e["shape"]), Plan(**e["plan"])
            _lib().gemm_plan(shape.ints())            # the shape's ints are valid
            if plan.isa not in ISA_CODES or plan.kernel not in KERNELS or plan.split not in SPLITS:
                raise ValueError(f"plan {e['plan']} names an unknown choice")
            entries[shape.key()] = e
        return entries
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        _warn(f"ignoring the GEMM tuning cache {path}: damaged ({str(e).splitlines()[0] if str(e) else type(e).__name__})")
        return {}


def _keep(entries) -> None:
    """New entries (a search's) join this process's, and all of them are written whole to a temporary file, then
    renamed over the cache: a reader sees one or the other; the file's stamp is then this process's (_reread).
    (Called inside _searching, so that no other process's entries are written over.)"""
    _state["entries"].update((Shape(**e["shape"]).key(), e) for e in entries)
    path = _state["path"]
    data = {"format": FORMAT, "identity": _state["ident"], "written": time.strftime("%Y-%m-%d %H:%M:%S"),
            "plans": list(_state["entries"].values())}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, path)
    except OSError as e:
        _warn(f"the GEMM tuning cache {path} could not be written ({e.strerror or e}): the plans hold for this process only")
    _state["stamp"] = _stamp(path)


def _stamp(path: Path):
    """What tells a cache file's versions apart: its inode, size and time (None where there is none)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _load() -> None:
    if "entries" in _state:
        return
    ident = identity()
    path = cache_path(ident)
    _state.update(ident=ident, path=path, stamp=_stamp(path), entries=_read(path, ident), installed={}, busy=set())


def _reread() -> None:
    """The entries another process wrote since this one read the cache, added to this one's."""
    stamp = _stamp(_state["path"])
    if stamp is not None and stamp != _state["stamp"]:
        _state["entries"].update(_read(_state["path"], _state["ident"]))
        _state["stamp"] = stamp


@contextlib.contextmanager
def _searching(say):
    """One process at a time searches this cache (an flock on a file beside it, let go however the process ends):
    a second one says it waits, waits, then reads what the first wrote. Where the lock cannot be had (a folder
    that cannot be written, a file system without flock), each searches alone, as before."""
    path = _state["path"]
    lock = path.with_name(f".{path.name}.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another process's search of the GEMM's plans ({lock})")
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass
        _reread()
        yield
    finally:
        os.close(fd)


def _install(entries: list[dict]) -> None:
    """Check each plan against the scalar kernel, then install them beside those installed before.
    Any disagreement drops them all (and the cache's copy of them), with a warning."""
    plans = {}
    for e in entries:
        shape, plan = Shape(**e["shape"]), Plan(**e["plan"])
        try:
            bad = check(shape, plan)
        except RuntimeError as err:                          # a plan this CPU cannot run
            bad = str(err).splitlines()[0]
        if bad is not None:
            _warn(f"ignoring the GEMM tuning cache {_state['path']}: plan {plan} for {shape.key()} disagrees with the "
                  f"scalar kernel ({bad if isinstance(bad, str) else f'{bad:.3g} x the float32 bound'})")
            _state["entries"].clear()
            return
        plans[shape.key()] = (shape, plan)
    _state["installed"].update(plans)
    _reinstall()


def _reinstall() -> None:
    """The plans installed by this module as the GEMM's tuned table (a search replaces it while it runs)."""
    installed = _state.get("installed", {})
    _lib().set_gemm_plans([v for shape, plan in installed.values() for v in shape.ints() + plan.ints()])


def _isa_forced() -> bool:
    """Whether an ISA is named (MINITORCH_CLF_ISA, ops.isa): then the derived plans run, tuned or not."""
    previous = _lib().set_isa("auto")
    _lib().set_isa(previous)
    return previous != "auto"


def ensure(batch_size: int, sizes, log=None) -> None:
    """The tuned plans of the step's products at this batch in force: from the cache, else found by the
    short search (and cached). Nothing with MINITORCH_CLF_TUNE=0, or while an ISA is named. `log`
    (default: a line on stderr) hears of a search."""
    if mode() == "off":
        return
    _load()
    if _isa_forced():
        return
    shapes = list(dict.fromkeys(shape for _, shape in step_shapes(batch_size, sizes)))

    def missing() -> bool:
        return any(s.key() not in _state["entries"] for s in shapes)

    if missing() and batch_size in _state["busy"]:
        return                                       # the CPU was busy at this batch's search: the derived plans
    if missing():
        say = log or (lambda m: print(m, file=sys.stderr))
        with _searching(say):
            if missing():
                t0 = time.perf_counter()
                say(f"tuning the GEMM for the {len(shapes)} product shapes of the step at batch {batch_size} (first "
                    f"use on this CPU; {ENV}=0 turns it off, `minitorch-clf tune` searches fully)")
                try:
                    result = search(batch_size, sizes)
                except CpuBusy as e:
                    _state["busy"].add(batch_size)
                    say(f"tuning stopped: {e}. The derived plans run at batch {batch_size} in this process and "
                        f"nothing is cached: a later first use searches again")
                    return
                _keep(result.entries())
                say(f"tuned in {time.perf_counter() - t0:.1f} s, the step "
                    f"{result.derived_seconds / result.seconds:.2f}x as fast as on the derived plans: {_state['path']}")
    if any(s.key() not in _state["installed"] for s in shapes):
        _install([_state["entries"][s.key()] for s in shapes])


def tune(batch_sizes, sizes, full: bool = True, log=print) -> list[StepResult]:
    """Search the step at each batch size (the full search unless full=False), write the cache and
    install the plans (unless MINITORCH_CLF_TUNE=0). Returns one StepResult per batch size. Raises CpuBusy
    where other processes had the CPU during a race: then nothing is written or installed."""
    on = mode() == "auto"                   # a bad MINITORCH_CLF_TUNE is refused before any work
    _load()
    if _isa_forced():
        raise ValueError("an ISA is named (MINITORCH_CLF_ISA or ops.isa): the GEMM runs its derived plans then, "
                         "and there is nothing to tune")
    out = []
    with _searching(log):
        for bs in batch_sizes:
            result = search(bs, sizes, full, log)        # CpuBusy: nothing kept, the plans in force stay
            log(f"batch {bs}: the step {result.seconds * 1e6:.1f} us on the tuned plans, "
                f"{result.derived_seconds * 1e6:.1f} us on the derived ones "
                f"({result.derived_seconds / result.seconds:.2f}x)")
            out.append(result)
        _keep([e for result in out for e in result.entries()])
    if on:
        for result in out:
            _install(result.entries())
    return out


def cached() -> dict:
    """The cache of this CPU, thread count and build: {'path', 'plans': [entries]} (reads it once)."""
    _load()
    return {"path": str(_state["path"]), "plans": list(_state["entries"].values())}


def plan_in_force(shape: Shape) -> tuple[Plan, bool]:
    """The plan a product of this shape runs now, and whether it is a tuned one (else the derived)."""
    v = _lib().gemm_plan(shape.ints())
    return Plan.from_ints(v[:5]), bool(v[5])


def in_force(batch_size: int, sizes) -> list[dict]:
    """What each product of the step runs now: {'product', 'shape', 'plan', 'tuned'} (bench --json)."""
    out = []
    for name, shape in step_shapes(batch_size, sizes):
        plan, tuned = plan_in_force(shape)
        out.append({"product": name, "shape": shape.key(), "plan": str(plan), "tuned": tuned})
    return out


@contextlib.contextmanager
def derived_only():
    """`with tune.derived_only():` runs the block on the derived plans, then puts the tuned ones back."""
    previous = _lib().tuned_plans_on(False)
    try:
        yield
    finally:
        _lib().tuned_plans_on(previous)
