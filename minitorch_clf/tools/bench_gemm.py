"""`minitorch-clf bench --gemm`: the eight matrix products of a SimpleNet training step, the GEMM
written here (kernels/cpu/gemm/gemm.h, op own_mm) against ATen's (MKL) and, where numpy is there,
numpy's OpenBLAS (what a user would call instead), side by side.

Per product, the two take turns for `rounds` rounds (drift on the machine hits both alike); a round
times `iters` calls from Python, so each figure includes one call through each library's own binding: the
GEMM written here through ops.direct() (kernels/cpu/direct_calls.cpp: no dispatcher, as the fused engine
calls its step), torch.mm and numpy.matmul through theirs; the header line says what each call costs.
"all eight" times mlp_products' kernel, which runs the eight back to back in C++ as the fused step does: no
Python between them. A product's own row repeats it, its operands warm from the call before (the kernel's
time); in the eight each product follows another, as in the step, and the eight read up to 1.2x the sum of the
rows (RESULTS.md, 2026-12-07: eight separate calls in the step's order read what the one call reads). "whole
SGD step" times that step itself (mlp_sgd_step_'s kernel with momentum: the products, bias and ReLU,
cross-entropy, the bias gradients and the update, one C++ call) with each GEMM inside, on the same operands.
Both are called directly too, so the difference between them is the time outside the products, and the step's
% peak is the step's (its flops counted as the products': what else it computes is a few percent of them).

The GEMM written here runs its tuned plans (ops/tune.py: searched the first time on this CPU, then read
from the cache; `minitorch-clf tune` searches fully), and "derived" times it on the plans its rules derive,
in the same turns: the gain of the tuning, measured side by side. Only where the two plans differ: the
same plan timed twice measures the machine's noise, which on a shared VM reached 0.76x for the same eight
products (RESULTS.md, 2026-12-06, tenth session). Those rows read "= own" and "same plans", and the column
is left out where every product runs its derived plan (MINITORCH_CLF_TUNE=0, or a search that kept them).
The derived plans run with the widest instruction set the CPU has (ops.set_isa / MINITORCH_CLF_ISA
choose another); on a CPU with AVX-512 the table also times it with AVX2 ("own avx2"), side by side.
% of peak divides the achieved GFLOP/s by the float32 peak of the cores used with the widest ISA,
measured by probes.fma_peak_gflops (tools/probes.py; best of 5): every thread runs independent FMA chains from
registers (AVX-512: 2 pipes x 16 lanes x 2 flops = 64 flops per cycle per core where the core has two
512-bit pipes; AVX2: 32), at the clock the cores hold. The header gives the peak of every ISA.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from .. import ops
from ..ops import tune
from . import intensity, probes
from ..table import text_table
from ..models import MLPConfig
from ..plotting import pyplot


ALL_EIGHT, WHOLE_STEP = "all eight (one C++ call)", "whole SGD step (one C++ call)"


def single_product(name: str) -> bool:
    """False for the rows that time more than one product (all eight, the whole step)."""
    return not name.startswith(("all eight", "whole SGD step"))


@dataclass
class GemmRecord:
    batch_size: int
    product: str                # e.g. "fc1 dW = dzᵀ·x"
    shape: str                  # "M x K · K x N"
    flops: int
    min_bytes: int              # A and B read, C written once (tools/intensity.py)
    own_s: float                # median per call
    aten_s: float
    speedup: float              # aten_s / own_s: > 1 means the GEMM written here is faster
    own_gflops: float
    aten_gflops: float
    own_pct_peak: float
    aten_pct_peak: float
    own_avx2_s: float | None = None   # the GEMM written here forced to AVX2 (CPUs with AVX-512)
    blas_s: float | None = None       # numpy's matmul (its OpenBLAS), the same operands, one call each
    own_derived_s: float | None = None   # the GEMM written here on its derived plans, where they differ from own's


def step_products(batch_size: int, config: MLPConfig | None = None, seed: int = 0):
    """The step's products as (name, a, b) in the layouts the fused ops pass, and mlp_products' inputs."""
    return tune.step_products(batch_size, (config or MLPConfig()).sizes, seed)


def measured_peak_gflops(repeats: int = 5, isa: str = "auto") -> float:
    """Best of `repeats` runs of probes.fma_peak_gflops on torch's thread count with `isa`'s vectors (auto:
    the widest), after one to warm up: a new OpenMP thread can share its parent's core for the first
    tens of milliseconds, which halves the first readings on 2 cores; the peak is what the cores reach
    once spread."""
    probes.fma_peak_gflops(isa=isa)
    return max(probes.fma_peak_gflops(isa=isa) for _ in range(repeats))


DRIFT = 0.10     # a change of the FMA peak during a benchmark past this fraction is reported


def speed_drift(before: float, isa: str = "auto", log=print) -> float:
    """The FMA peak measured again after a benchmark's rounds, logged against `before` (the peak its % of
    peak divide by); a warning where the CPU's speed moved by more than DRIFT during the run (a virtual
    machine's neighbours, turbo or thermal limits: the 2-core VMs of benchmarks/RESULTS.md ran 1.5-2x
    slower for minutes at a time). The rounds take turns, so the ratios of one run still hold; its
    absolute figures and % of peak do not. Returns the later peak."""
    after = measured_peak_gflops(isa=isa)
    change = after / before - 1
    line = f"FMA peak after the rounds: {after:.1f} GFLOP/s, {change:+.0%} from the start"
    if abs(change) > DRIFT:
        line += ("; the CPU's speed moved during the run: its ratios (taken in turns) hold, its times and % of "
                 "peak are uncertain by as much")
    log(line)
    return after


PLACEMENT_MOVED = 2.0   # a round trip this many times the start's, or a fraction of it, after the rounds is reported


def placement_moved(start: float, end: float) -> bool:
    """Whether the round trip moved by PLACEMENT_MOVED or more between two readings (bench's lines, report's list)."""
    return max(end / start, start / end) >= PLACEMENT_MOVED


def core_placement(before: float | None = None, log=print) -> float | None:
    """A cache line's round trip between the cores of threads 0 and 1 (probes.core_round_trip_ns), logged at a
    benchmark's start (before None) and after its rounds (before: the start's reading), with a warning where it moved
    by PLACEMENT_MOVED or more: a VM's two vCPUs moved between cores that share an L3 and cores that do not (the
    2-core Zen 4 VM of benchmarks/RESULTS.md, thirty-first session: 50-70 against 310-390 ns, the bf16 step 1.5x
    slower in the second). Returns the reading; None (no line) with one thread."""
    ns = probes.core_round_trip_ns()
    if ns is None:
        return None
    if before is None:
        log(f"a cache line's round trip between the cores of threads 0 and 1: {ns:.0f} ns (several times more where "
            f"the two do not share an L3; every line one thread writes and the other reads pays it)")
        return ns
    line = f"the cores' round trip after the rounds: {ns:.0f} ns, against {before:.0f} at the start"
    if placement_moved(before, ns):
        line += ("; the threads moved between cores that share a cache and cores that do not during the run: its "
                 "ratios (taken in turns) hold, its times mix the two")
    log(line)
    return ns


def numpy_blas() -> tuple[object, str | None]:
    """(numpy, the OpenBLAS kernel family it runs, e.g. 'SkylakeX' or 'Haswell'), or (None, None).
    OpenBLAS picks its kernels when it loads, from the CPU or from OPENBLAS_CORETYPE: run the benchmark
    with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE` to let it pick the CPU's widest."""
    try:
        import numpy as np
        from threadpoolctl import threadpool_info
    except ImportError:
        return None, None
    arch = next((i.get("architecture") for i in threadpool_info() if i.get("internal_api") == "openblas"), None)
    return np, arch


def peaks_by_isa(repeats: int = 5) -> dict[str, float]:
    """The measured peak of every vector ISA this CPU runs, widest first."""
    return {isa: measured_peak_gflops(repeats, isa) for isa in ops.cpu_isas() if isa != "scalar"}


def _switch():
    """use(gemm, tuned): the ops' GEMM and whether the GEMM's tuned plans apply, changed only where the
    last call left them otherwise (once per turn of the timing, not per call; the caller restores both)."""
    last = [None]

    def use(gemm: str, tuned: bool) -> None:
        if last[0] != (gemm, tuned):
            ops.set_gemm(gemm)
            torch.ops.minitorch_clf.tuned_plans_on(tuned)
            last[0] = (gemm, tuned)

    return use


def _numpy_phase(np, products, rows, rounds: int) -> None:
    """numpy's matmul of the same operands (views: the same strides), added to each row's timings as
    "blas". Timed after ours, not in turns with it: OpenBLAS's threads spin for about 0.1 s after each
    call, and in turns they took the two cores from OpenMP's (the GEMM written here ran many times slower).
    The pause after lets them go to sleep before anything else is timed."""
    pairs = [(a.numpy(), b.numpy()) for _, a, b in products]
    calls = {f"p{k}": (lambda a=a, b=b: np.matmul(a, b)) for k, (a, b) in enumerate(pairs)}
    calls["all"] = lambda: [np.matmul(a, b) for a, b in pairs]              # eight Python calls
    t = tune.medians(calls, rounds)
    for k, row in enumerate(rows):
        row[3]["blas"] = t[f"p{k}"] if k < len(pairs) else t["all"]
    time.sleep(0.3)


def call_overheads(np, rounds: int = 15) -> str:
    """One line: the time of a 1 x 1 product through each library's call from Python - what every
    per-product row includes besides its kernel (fc3's products are about a microsecond of kernel)."""
    a, b = torch.ones(1, 1), torch.ones(1, 1)
    own_mm = ops.direct().own_mm
    calls = {"own_mm (direct)": lambda: own_mm(a, b), "torch.mm": lambda: torch.mm(a, b)}
    if np is not None:
        an, bn = a.numpy(), b.numpy()
        calls["numpy.matmul"] = lambda: np.matmul(an, bn)
    t = tune.medians(calls, rounds)
    return ("the call around each product (a 1 x 1 product from Python; every product row includes its "
            "library's): " + ", ".join(f"{k} {v * 1e6:.2f} us" for k, v in t.items()))


def bench_gemms(batch_sizes: list[int], rounds: int = 15, log=print) -> tuple[list[GemmRecord], float]:
    ops.load()
    peaks = peaks_by_isa()
    peak = next(iter(peaks.values()))                   # the widest ISA's: what the machine can do
    log("measured float32 peak on {} threads: {} (% of peak divides by the first)".format(
        torch.get_num_threads(), ", ".join(f"{isa} {p:.1f} GFLOP/s" for isa, p in peaks.items())))
    blocks = {isa: ops.gemm_blocking(isa) for isa in peaks}
    caches = ops.gemm_blocking("scalar")
    log("GEMM blocks from L1d {}K, L2 {}K: {}".format(caches["L1d"] // 1024, caches["L2"] // 1024, ", ".join(
        f"{isa} k {b['k_block']} x rows {b['row_block']}" for isa, b in blocks.items())))
    narrow = "avx512" in peaks and "avx2" in peaks
    np, blas = numpy_blas()
    if np is not None:
        log(f"numpy {np.__version__} with OpenBLAS kernels '{blas}' (the OpenBLAS column)")
    log(call_overheads(np))
    direct = ops.direct()             # the GEMM written here as the fused engine calls its step: no dispatcher
    records = []
    for bs in batch_sizes:
        tune.ensure(bs, MLPConfig().sizes, log=log)
        products, (acts, weights, dzs) = step_products(bs)
        rows, differ = [], []                 # the products whose plan in force is not the derived one
        for name, a, b in products:
            shape = tune.Shape.of(a, b)
            derived = tune.derived_plan(shape)
            calls = {"own": lambda: direct.own_mm(a, b), "aten": lambda: torch.mm(a, b)}
            if tune.plan_in_force(shape)[0] != derived:
                differ.append(name)
                plan = derived.ints()
                calls["own_derived"] = lambda: direct.own_mm_plan(a, b, plan)
            if narrow:
                calls["own_avx2"] = lambda: direct.own_mm(a, b, "avx2")
            t = tune.medians(calls, rounds)
            cost = intensity.gemm(name, a.shape[0], b.shape[1], a.shape[1], a.element_size())
            rows.append((name, f"{a.shape[0]}x{a.shape[1]} · {b.shape[0]}x{b.shape[1]}", cost, t))
        # the eight products and the whole step in the same turns: their difference is what lies outside
        step, use = tune.sgd_step(acts, weights), _switch()
        runs = {"eight": lambda g: direct.mlp_products(acts, weights, dzs, g), "step": lambda g: step()}
        kinds = {"own": ("own", True), "aten": ("aten", True), **({"own_derived": ("own", False)} if differ else {})}
        log(f"batch {bs}: " + (f"tuned plans differ from the derived ones for {', '.join(differ)}; \"derived\" "
                               "times those and the step on the derived plans" if differ else
                               "every product runs its derived plan: no \"derived\" column"))
        calls = {f"{what} {kind}": (lambda run=run, g=g, tuned=tuned: (use(g, tuned), run(g)))
                 for what, run in runs.items() for kind, (g, tuned) in kinds.items()}
        with ops.gemm("auto"), tune.derived_only():   # the calls switch both; the settings before come back
            t = tune.interleaved_samples(calls, rounds)
        total = intensity.Cost("all", sum(r[2].flops for r in rows), sum(r[2].bytes for r in rows))
        median = {name: statistics.median(s) for name, s in t.items()}
        rows.append((ALL_EIGHT, "-", total, {kind: median[f"eight {kind}"] for kind in kinds}))
        if np is not None:
            _numpy_phase(np, products, rows, rounds)
        rows.append((WHOLE_STEP, "-", total, {kind: median[f"step {kind}"] for kind in kinds}))
        outside = statistics.median(s - e for s, e in zip(t["step own"], t["eight own"]))     # paired by round
        log(f"batch {bs}: the whole step {median['step own'] * 1e6:.1f} us, its eight products "
            f"{median['eight own'] * 1e6:.1f} us; outside them {outside * 1e6:.1f} us "
            f"({100 * outside / median['step own']:.0f}%; the median of the rounds' differences, own GEMM)")
        for name, shape, cost, t in rows:
            flops = cost.flops
            own, aten = flops / t["own"] / 1e9, flops / t["aten"] / 1e9
            records.append(GemmRecord(bs, name, shape, flops, cost.bytes, t["own"], t["aten"], t["aten"] / t["own"], own, aten,
                                      100 * own / peak, 100 * aten / peak, t.get("own_avx2"), t.get("blas"),
                                      t.get("own_derived")))
        log(f"batch {bs}: done")
    speed_drift(peak, next(iter(peaks)), log)
    return records, peak


def format_gemm_table(records: list[GemmRecord]) -> str:
    narrow, blas = any(r.own_avx2_s for r in records), any(r.blas_s for r in records)
    derived = any(r.own_derived_s for r in records)
    head = ["batch", "product", "shape", "own", *(["derived", "tuned gain"] if derived else []),
            *(["own avx2"] if narrow else []), "ATen/MKL",
            *(["OpenBLAS", "own/OpenBLAS"] if blas else []), "own/ATen speed", "own GFLOP/s", "MKL GFLOP/s",
            "own % peak", "MKL % peak"]
    us = lambda s: f"{s * 1e6:.1f} us" if s else "-"
    # a row without its derived time ran the same plans as own (bench_gemms times only those that differ)
    gain = lambda r: f"{r.own_derived_s / r.own_s:.2f}x" if r.own_derived_s else "same plans"
    rows = [[str(r.batch_size), r.product, r.shape, us(r.own_s),
             *([us(r.own_derived_s) if r.own_derived_s else "= own", gain(r)] if derived else []),
             *([us(r.own_avx2_s)] if narrow else []),
             us(r.aten_s), *([us(r.blas_s), f"{r.blas_s / r.own_s:.2f}x" if r.blas_s else "-"] if blas else []),
             f"{r.speedup:.2f}x",
             f"{r.own_gflops:.1f}", f"{r.aten_gflops:.1f}", f"{r.own_pct_peak:.0f}", f"{r.aten_pct_peak:.0f}"]
            for r in records]
    return text_table(head, rows, left=3)


def plot_gemms(records: list[GemmRecord], peak: float, path, title: str) -> None:
    """GFLOP/s of each product, own beside MKL (and OpenBLAS where it was timed), one panel per batch
    size, the measured peak of the widest ISA drawn."""
    plt = pyplot()

    batches = sorted({r.batch_size for r in records})
    fig, axes = plt.subplots(1, len(batches), figsize=(5 * len(batches), 4.2), sharey=True, squeeze=False)
    for ax, bs in zip(axes[0], batches):
        rs = [r for r in records if r.batch_size == bs]
        xs = range(len(rs))
        series = [("own (gemm.h)", [r.own_gflops for r in rs]), ("ATen / MKL", [r.aten_gflops for r in rs])]
        if any(r.blas_s for r in rs):              # not for the whole step: numpy has none
            series.append(("numpy / OpenBLAS", [r.flops / r.blas_s / 1e9 if r.blas_s else 0 for r in rs]))
        width = 0.8 / len(series)
        for k, (label, ys) in enumerate(series):
            ax.bar([x + (k - (len(series) - 1) / 2) * width for x in xs], ys, width, label=label)
        ax.axhline(peak, color="k", lw=0.8, ls="--", label=f"measured peak {peak:.0f}")
        ax.set_xticks(list(xs), [r.product.replace(" = ", "\n") for r in rs], fontsize=7, rotation=90)
        ax.set_title(f"batch {bs}")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("GFLOP/s (higher is better)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
