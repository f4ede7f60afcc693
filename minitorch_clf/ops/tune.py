"""The CPU GEMM tuned by measurement on the CPU it runs on, as FFTW's wisdom and ATLAS's install-time
search are: for each product of a model's training step, time candidate plans and keep the fastest.

    minitorch-clf tune --batch-sizes 64,1024     the full search, derived vs tuned per product, cached
    the fused engine's first CPU step            a short search for the shapes of its batch, cached
    MINITORCH_CLF_TUNE=0                         the derived plans only: no search, no cache read

A plan (kernels/cpu/gemm/gemm.h) is what the GEMM decides per product: the instruction set (AVX-512 or
AVX2: some Intel parts clock lower under AVX-512), the kernel (dot products or outer products), the
outer kernel's K block (the packed rows of A follow from it and L2), the threads and how C is cut
between them (columns first or rows first). The derived plan makes those choices by rules from the
caches and from measurements on one CPU; the search starts there and moves one choice at a time
(coordinate descent): every other value of that choice is timed in turns with the best plan so far,
and replaces it only when faster by more than MARGIN (this VM's timings wander by a few percent; a
plan that wins by less is noise, and the derived one is kept). The short search makes one pass over
the choices, the full one passes until nothing changes (at most three).

The cache is one JSON file per CPU (its model, family/model/stepping, instruction sets and caches),
thread count and build of the GEMM's sources, in `cache_path()` (MINITORCH_CLF_TUNE_DIR moves it); it records each product's plan with
the search's timings. A damaged file, or one made for another CPU, thread count or build, is ignored
with one warning line and written over by the next search. Before a plan is installed it runs once
on random operands of its shape and is checked against the scalar kernel (within the error bound of
a float32 sum of K products, for both): a plan that disagrees refuses the whole cache with a warning.

Bits: a tuned plan sums in its kernel's order, so a tuned GEMM need not give the derived plan's bits
(still the same bits for any thread count within a process: the plans installed do not change
with torch.set_num_threads; the cache read at the first step does depend on it).
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

from . import _lib
from .build import build_root, kernel_dir

ENV = "MINITORCH_CLF_TUNE"
FORMAT = 1
MARGIN = 0.03                # a candidate replaces the best plan only when faster by more than this
LAYOUTS = ("rows", "columns", "strided")          # gemm::Layout's order
KERNELS = ("dot", "outer")                        # gemm::Kernel's
SPLITS = ("columns", "rows")                      # gemm::Split's: which of C's sizes is cut first
ISA_CODES = {"avx512": 1, "avx2": 2, "scalar": 3}   # gemm::Isa's


class TuneCacheWarning(UserWarning):
    """The tuning cache was not used (damaged, made elsewhere, or a plan failed its check)."""


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
    in the layouts the fused ops pass them, and mlp_products' inputs (acts, weights, dzs)."""
    g = torch.Generator().manual_seed(seed)
    acts = [torch.randn(batch_size, i, generator=g) for i in sizes[:-1]]          # layer k's input (N, I_k)
    weights = [torch.randn(o, i, generator=g) for i, o in zip(sizes, sizes[1:])]   # (O_k, I_k)
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

def interleaved_samples(calls: dict, rounds: int, target_s: float = 2e-3) -> dict[str, list[float]]:
    """Seconds per call of each callable in each round, the callables taking turns within a round (drift
    on the machine hits them alike); a round runs each enough times to last about target_s."""
    for f in calls.values():                                       # warm-up, and a first estimate
        f()
    t0 = time.perf_counter()
    next(iter(calls.values()))()
    iters = max(1, int(target_s / max(time.perf_counter() - t0, 1e-7)))
    samples = {name: [] for name in calls}
    for _ in range(rounds):
        for name, f in calls.items():
            t0 = time.perf_counter()
            for _ in range(iters):
                f()
            samples[name].append((time.perf_counter() - t0) / iters)
    return samples


def medians(calls: dict, rounds: int, target_s: float = 2e-3) -> dict[str, float]:
    """Median seconds per call of each callable, timed in turns (interleaved_samples)."""
    return {name: statistics.median(s) for name, s in interleaved_samples(calls, rounds, target_s).items()}


# ------------------------------------------------------------------------------------------------
# the search

def derived_plan(shape: Shape) -> Plan:
    """The rules' plan for the shape with the widest ISA (what runs with MINITORCH_CLF_TUNE=0)."""
    return Plan.from_ints(_lib().gemm_plan(shape.ints(), _isas()[0])[:5])


def _isas() -> list[str]:
    return [isa for isa in _lib().cpu_isas() if isa != "scalar"] or ["scalar"]


def _choices(shape: Shape, plan: Plan, threads: int) -> list[Plan]:
    """The plans that differ from `plan` in one choice."""
    out = [dataclasses.replace(plan, isa=isa) for isa in _isas() if isa != plan.isa]
    if shape.a == "rows" and shape.b == "columns":
        out.append(dataclasses.replace(plan, kernel="dot" if plan.kernel == "outer" else "outer"))
    if plan.kernel == "outer" and plan.isa != "scalar":
        whole = -(-shape.K // 8) * 8                       # the whole of K in one block
        for k in sorted({plan.k_block // 2, plan.k_block * 2, whole}):
            if 16 <= k <= whole and k != plan.k_block:
                out.append(dataclasses.replace(plan, k_block=k))
    out += [dataclasses.replace(plan, threads=t) for t in range(1, threads + 1) if t != plan.threads]
    if plan.threads > 1:
        out.append(dataclasses.replace(plan, split="rows" if plan.split == "columns" else "columns"))
    return out


@dataclasses.dataclass
class Result:
    shape: Shape
    plan: Plan
    derived: Plan
    seconds: float            # the plan's median per call, timed in turns with the derived plan
    derived_seconds: float
    search: str               # "short" or "full"

    def entry(self) -> dict:
        return {"shape": dataclasses.asdict(self.shape), "plan": dataclasses.asdict(self.plan),
                "derived": dataclasses.asdict(self.derived), "seconds": self.seconds,
                "derived_seconds": self.derived_seconds, "search": self.search}


def search(shape: Shape, full: bool = False) -> Result:
    """The fastest plan found for `shape` from the derived one (module docstring)."""
    a, b = shape.operands()
    run = lambda plan: (lambda: _lib().own_mm_plan(a, b, plan.ints()))
    rounds, target = (7, 2e-3) if full else (3, 1e-3)
    derived = best = derived_plan(shape)
    threads = torch.get_num_threads()
    for _ in range(3 if full else 1):
        moved = False
        for candidate in _choices(shape, best, threads):
            t = medians({"best": run(best), "candidate": run(candidate)}, rounds, target)
            if t["candidate"] < (1 - MARGIN) * t["best"]:
                best, moved = candidate, True
        if not moved:
            break
    kind = "full" if full else "short"
    if best == derived:
        t = medians({"derived": run(derived)}, rounds, target)["derived"]
        return Result(shape, derived, derived, t, t, kind)
    # The last word is a longer race between the winner and the derived plan: a winner that came out
    # ahead of its rivals by chance in short races does not replace the derived plan.
    t = medians({"plan": run(best), "derived": run(derived)}, 2 * rounds + 1, target)
    if t["plan"] >= t["derived"]:
        return Result(shape, derived, derived, t["derived"], t["derived"], kind)
    return Result(shape, best, derived, t["plan"], t["derived"], kind)


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
    """What a cache is valid for: the CPU, its instruction sets and caches, the thread count and the
    GEMM's sources."""
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
            "threads": torch.get_num_threads(), "gemm_sources": digest[:16]}


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
            _warn(f"ignoring the GEMM tuning cache {path}: it was made for another CPU, thread count or build")
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


def _write(path: Path, ident: dict, entries: dict[str, dict]) -> None:
    """Written whole to a temporary file, then renamed over the old one: a reader sees one or the other."""
    data = {"format": FORMAT, "identity": ident, "written": time.strftime("%Y-%m-%d %H:%M:%S"),
            "plans": list(entries.values())}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, path)
    except OSError as e:
        _warn(f"the GEMM tuning cache {path} could not be written ({e.strerror or e}): the plans hold for this process only")


def _load() -> None:
    if "entries" in _state:
        return
    ident = identity()
    path = cache_path(ident)
    _state.update(ident=ident, path=path, entries=_read(path, ident), installed={})


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
    rows = [v for shape, plan in _state["installed"].values() for v in shape.ints() + plan.ints()]
    _lib().set_gemm_plans(rows)


def ensure(batch_size: int, sizes, log=None) -> None:
    """The tuned plans of the step's products at this batch in force: from the cache, else found by the
    short search (and cached). Nothing with MINITORCH_CLF_TUNE=0. `log` (e.g. print) hears of a search."""
    if mode() == "off":
        return
    _load()
    shapes = [shape for _, shape in step_shapes(batch_size, sizes)]
    todo = [s for s in dict.fromkeys(shapes) if s.key() not in _state["entries"]]
    if todo:
        t0 = time.perf_counter()
        say = log or (lambda m: print(m, file=sys.stderr))
        say(f"tuning the GEMM for {len(todo)} product shapes of batch {batch_size} (first use on this CPU; "
            f"{ENV}=0 turns it off, `minitorch-clf tune` searches fully)")
        for shape in todo:
            _state["entries"][shape.key()] = search(shape).entry()
        _write(_state["path"], _state["ident"], _state["entries"])
        say(f"tuned in {time.perf_counter() - t0:.1f} s: {_state['path']}")
    wanted = [_state["entries"][s.key()] for s in dict.fromkeys(shapes)]
    if any(Shape(**e["shape"]).key() not in _state["installed"] for e in wanted):
        _install(wanted)


def tune(batch_sizes, sizes, full: bool = True, log=print) -> list[tuple[int, str, Result]]:
    """Search every product of the step at each batch size (the full search unless full=False), write
    the cache and install the plans. Returns (batch, product name, Result) per product."""
    ops_mode = mode()                       # a bad MINITORCH_CLF_TUNE is refused before any work
    _load()
    out = []
    for bs in batch_sizes:
        for name, shape in step_shapes(bs, sizes):
            if shape.key() not in {r.shape.key() for _, _, r in out}:
                result = search(shape, full)
                _state["entries"][shape.key()] = result.entry()
                log(f"batch {bs} {name} ({shape.key()}): {result.plan} {result.seconds * 1e6:.1f} us, "
                    f"derived {result.derived} {result.derived_seconds * 1e6:.1f} us")
            else:
                result = next(r for _, _, r in out if r.shape.key() == shape.key())
            out.append((bs, name, result))
    _write(_state["path"], _state["ident"], _state["entries"])
    if ops_mode == "auto":
        _install([r.entry() for _, _, r in out])
    return out


def cached() -> dict:
    """The cache of this CPU, thread count and build: {'path', 'plans': [entries]} (reads it once)."""
    _load()
    return {"path": str(_state["path"]), "plans": list(_state["entries"].values())}


def in_force(batch_size: int, sizes) -> list[dict]:
    """What each product of the step runs now: {'product', 'shape', 'plan', 'tuned'} (bench --json)."""
    out = []
    for name, shape in step_shapes(batch_size, sizes):
        v = _lib().gemm_plan(shape.ints())
        out.append({"product": name, "shape": shape.key(), "plan": str(Plan.from_ints(v[:5])), "tuned": bool(v[5])})
    return out


@contextlib.contextmanager
def derived_only():
    """`with tune.derived_only():` runs the block on the derived plans, then puts the tuned ones back."""
    previous = _lib().tuned_plans_on(False)
    try:
        yield
    finally:
        _lib().tuned_plans_on(previous)
