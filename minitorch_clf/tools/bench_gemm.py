"""`minitorch-clf bench --gemm`: the eight matrix products of a SimpleNet training step, the GEMM
written here (kernels/cpu/gemm/gemm.h, op own_mm) against ATen's (MKL) and, where numpy is there,
numpy's OpenBLAS (what a user would call instead), side by side.

Per product, the two take turns for `rounds` rounds (drift on the machine hits both alike); a round
times `iters` calls from Python, so each figure includes one op dispatch (a few µs: benchmarks/RESULTS.md,
"the measurements behind the code's comments"). "all eight" times the op mlp_products, which
runs the eight back to back in C++ as the fused step does: no Python between them. "whole SGD step"
times that step itself (op mlp_sgd_step_ with momentum: the products, bias and ReLU, cross-entropy, the
bias gradients and the update, one C++ call) with each GEMM inside, on the same operands: the
difference to "all eight" is the time outside the products, and its % peak is the step's (its flops
counted as the products': what else it computes is a few percent of them).

The GEMM written here runs with the widest instruction set the CPU has (ops.set_isa / MINITORCH_CLF_ISA
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


def step_products(batch_size: int, config: MLPConfig | None = None, seed: int = 0):
    """The step's products as (name, a, b) in the layouts the fused ops pass, and mlp_products' inputs."""
    config = config or MLPConfig()
    dims = config.sizes
    g = torch.Generator().manual_seed(seed)
    acts = [torch.randn(batch_size, i, generator=g) for i in dims[:-1]]          # layer k's input (N, I_k)
    weights = [torch.randn(o, i, generator=g) for i, o in zip(dims, dims[1:])]   # (O_k, I_k)
    dzs = [torch.randn(batch_size, o, generator=g) for o in dims[1:]]            # its output gradient (N, O_k)
    products = [(f"fc{k + 1} y = x·Wᵀ", h, w.T) for k, (h, w) in enumerate(zip(acts, weights))]
    products += [(f"fc{k + 1} dW = dzᵀ·x", dz.T, h) for k, (dz, h) in enumerate(zip(dzs, acts))]
    products += [(f"fc{k + 1} dx = dz·W", dz, w) for k, (dz, w) in enumerate(zip(dzs, weights)) if k > 0]
    return products, (acts, weights, dzs)


def _interleaved(calls: dict, rounds: int, target_s: float = 2e-3) -> dict[str, float]:
    """Median seconds per call of each callable, timed in turns."""
    return {name: statistics.median(s) for name, s in _interleaved_samples(calls, rounds, target_s).items()}


def _interleaved_samples(calls: dict, rounds: int, target_s: float = 2e-3) -> dict[str, list[float]]:
    """Seconds per call of each callable in each round, the callables taking turns within a round."""
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


def measured_peak_gflops(repeats: int = 5, isa: str = "auto") -> float:
    """Best of `repeats` runs of probes.fma_peak_gflops on torch's thread count with `isa`'s vectors (auto:
    the widest), after one to warm up: a new OpenMP thread can share its parent's core for the first
    tens of milliseconds, which halves the first readings on 2 cores; the peak is what the cores reach
    once spread."""
    probes.fma_peak_gflops(isa=isa)
    return max(probes.fma_peak_gflops(isa=isa) for _ in range(repeats))


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


def _sgd_step(acts, weights):
    """step(gemm): one SGD step with momentum of the MLP whose layers `weights` holds, on the batch acts[0]
    (random targets), by mlp_sgd_step_ with that GEMM inside: it switches the ops' GEMM where the last
    call used another (once per turn; the caller restores the choice). The learning rate is tiny:
    thousands of timed steps leave the weights (copies) where they were."""
    weights = [w.clone() for w in weights]
    biases = [torch.zeros(w.shape[0]) for w in weights]
    bufs = [torch.zeros_like(p) for w, b in zip(weights, biases) for p in (w, b)]
    x = acts[0]
    y = torch.randint(0, weights[-1].shape[0], (x.shape[0],), generator=torch.Generator().manual_seed(1))
    last = [None]

    def step(gemm):
        if gemm != last[0]:
            ops.set_gemm(gemm)
            last[0] = gemm
        return torch.ops.minitorch_clf.mlp_sgd_step_(x, y, weights, biases, bufs, "relu", 1e-6, 0.9, 0.0, 0.0,
                                                     False, False)

    return step


def _numpy_phase(np, products, rows, rounds: int) -> None:
    """numpy's matmul of the same operands (views: the same strides), added to each row's timings as
    "blas". Timed after ours, not in turns with it: OpenBLAS's threads spin for about 0.1 s after each
    call, and in turns they took the two cores from OpenMP's (the GEMM written here ran many times slower).
    The pause after lets them go to sleep before anything else is timed."""
    pairs = [(a.numpy(), b.numpy()) for _, a, b in products]
    calls = {f"p{k}": (lambda a=a, b=b: np.matmul(a, b)) for k, (a, b) in enumerate(pairs)}
    calls["all"] = lambda: [np.matmul(a, b) for a, b in pairs]              # eight Python calls
    t = _interleaved(calls, rounds)
    for k, row in enumerate(rows):
        row[3]["blas"] = t[f"p{k}"] if k < len(pairs) else t["all"]
    time.sleep(0.3)


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
    records = []
    for bs in batch_sizes:
        products, (acts, weights, dzs) = step_products(bs)
        rows = []
        for name, a, b in products:
            calls = {"own": lambda: ops.own_mm(a, b), "aten": lambda: torch.mm(a, b)}
            if narrow:
                calls["own_avx2"] = lambda: ops.own_mm(a, b, "avx2")
            t = _interleaved(calls, rounds)
            cost = intensity.gemm(name, a.shape[0], b.shape[1], a.shape[1], a.element_size())
            rows.append((name, f"{a.shape[0]}x{a.shape[1]} · {b.shape[0]}x{b.shape[1]}", cost, t))
        # the eight products and the whole step in the same turns: their difference is what lies outside
        step = _sgd_step(acts, weights)
        calls = {f"{what} {g}": (lambda g=g: ops.mlp_products(acts, weights, dzs, g)) if what == "eight" else
                 (lambda g=g: step(g)) for what in ("eight", "step") for g in ("own", "aten")}
        with ops.gemm("auto"):                 # the steps switch the GEMM; the choice before comes back
            t = _interleaved_samples(calls, rounds)
        total = intensity.Cost("all", sum(r[2].flops for r in rows), sum(r[2].bytes for r in rows))
        median = {name: statistics.median(s) for name, s in t.items()}
        rows.append((ALL_EIGHT, "-", total, {g: median[f"eight {g}"] for g in ("own", "aten")}))
        if np is not None:
            _numpy_phase(np, products, rows, rounds)
        rows.append((WHOLE_STEP, "-", total, {g: median[f"step {g}"] for g in ("own", "aten")}))
        outside = statistics.median(s - e for s, e in zip(t["step own"], t["eight own"]))     # paired by round
        log(f"batch {bs}: the whole step {median['step own'] * 1e6:.1f} us, its eight products "
            f"{median['eight own'] * 1e6:.1f} us; outside them {outside * 1e6:.1f} us "
            f"({100 * outside / median['step own']:.0f}%; the median of the rounds' differences, own GEMM)")
        for name, shape, cost, t in rows:
            flops = cost.flops
            own, aten = flops / t["own"] / 1e9, flops / t["aten"] / 1e9
            records.append(GemmRecord(bs, name, shape, flops, cost.bytes, t["own"], t["aten"], t["aten"] / t["own"], own, aten,
                                      100 * own / peak, 100 * aten / peak, t.get("own_avx2"), t.get("blas")))
        log(f"batch {bs}: done")
    return records, peak


def format_gemm_table(records: list[GemmRecord]) -> str:
    narrow, blas = any(r.own_avx2_s for r in records), any(r.blas_s for r in records)
    head = ["batch", "product", "shape", "own", *(["own avx2"] if narrow else []), "ATen/MKL",
            *(["OpenBLAS", "own/OpenBLAS"] if blas else []), "own/ATen speed", "own GFLOP/s", "MKL GFLOP/s",
            "own % peak", "MKL % peak"]
    us = lambda s: f"{s * 1e6:.1f} us" if s else "-"
    rows = [[str(r.batch_size), r.product, r.shape, us(r.own_s), *([us(r.own_avx2_s)] if narrow else []),
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
