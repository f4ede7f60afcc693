"""Side-by-side benchmark driver behind `minitorch-clf bench`.

Step mode: every engine trains on one resident random batch, at a learning rate (STEP_LR) that keeps
the weights where they start, so that no engine's step drifts into the saturated softmax of a memorised
batch; after warm-up (which is where
torch.compile compiles, timed and reported as `first_steps_s`, never inside a step time) the engines
take turns, `repeats` rounds of `iters` steps each, so drift on the machine hits them all alike.
A round's time / iters is one sample; we report the median and the interquartile range of the
samples. On a GPU each round is bracketed by CUDA events and synchronised.

Epoch mode: one full pass over 60,000 synthetic MNIST-shaped uint8 images at the batch size, through
the same Dataset/transform path as real MNIST: `reference` with the seed's DataLoader, and every
engine with the data resident on the device (`Engine.train_epoch`: the loop of steps, or for the
fused engine on a GPU one CUDA graph for the whole epoch, captured during the warm-up).

Achieved GFLOP/s counts the GEMMs of a step (MLPConfig.flops_per_sample); `% matmul` compares them
with a large float32 matrix product timed in the same process on the same device, and on the CPU
`% peak` with the FMA peak of the widest instruction set the CPU has, measured in the same process
(bench_gemm.measured_peak_gflops): the honest denominator, which a step can approach but not pass.

With `phases`, each engine's steps are then profiled for the time in each label (profiling.phase_times).
`write_json` writes one document: the records (each with its flops and least bytes, intensity.py),
the machine and its ceilings (machine.py) - what `minitorch-clf report` reads.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .. import data as D
from ..engines import COMPILED, GPU_ENGINES, PEERS, build_engine, resolve_device
from ..models import MLPConfig
from ..plotting import pyplot
from ..table import seconds_text, text_table
from . import intensity
from .machine import bf16_peak_isa
from .profiling import phase_times
from .schema import SCHEMA
from .timing import Timer, matmul_rate, synchronize
from ..ops.tune import STEP_LR, shuffled_rounds


@dataclass
class Record:
    engine: str
    loader: str
    device: str
    batch_size: int
    median_s: float                     # per step (step mode) or per epoch (epoch mode)
    iqr_s: float
    samples_per_s: float
    speedup: float | None = None        # against `reference` at the same batch size / loader
    gflops: float | None = None
    pct_matmul: float | None = None     # achieved GFLOP/s / measured matmul GFLOP/s
    pct_peak: float | None = None       # CPU: achieved GFLOP/s / the widest ISA's measured FMA peak
    first_steps_s: float | None = None  # warm-up (compile, allocation), excluded from median_s
    epoch_s: float | None = None
    flops: int | None = None            # per step / call (the GEMMs'), for the roofline
    min_bytes: int | None = None        # the least memory traffic of a step / call (tools/intensity.py)
    phases: dict | None = None          # seconds per step in each profiler label (bench --phases)
    vs_graphed: float | None = None     # graphed-reference's time / this time, same batch (a GPU's fair peer)


def _quartiles(xs: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else [xs[0]] * 3
    return q[0], statistics.median(xs), q[2]


def _build(name: str, device: torch.device, optimizer: str, compile_mode: str | None, activation: str = "relu",
           lr: float = 0.01):
    """The benchmark's engine: lr 0.01 (step mode: STEP_LR), momentum 0.9, seed 0; compile_mode for the
    compiled engines.
    `fused@aten` / `fused@own` is the fused engine with that float32 GEMM in its CPU ops; `manual:bf16`
    the engine with that precision of its products (functional.round_to)."""
    name, _, precision = name.partition(":")
    name = name.partition("@")[0]
    kw = {"compile_mode": compile_mode} if compile_mode and name in COMPILED else {}
    return build_engine(name, optimizer=optimizer, lr=lr, device=device, seed=0,      # SGD: momentum 0.9, the default
                        activation=activation, precision=precision or None, **kw)


SUFFIXES = ("aten", "own", "avx512", "avx2", "scalar")     # fused@aten|own (the GEMM), fused@avx2... (its ISA)


def _gemm_for(name: str):
    """The context an engine's steps run in: the GEMM (aten, own) or the GEMM's ISA named after '@'."""
    suffix = name.partition(":")[0].partition("@")[2]
    if not suffix:
        return contextlib.nullcontext()
    from .. import ops

    return ops.gemm(suffix) if suffix in ("aten", "own") else ops.isa(suffix)


def bench_steps(engines: list[str], batch_sizes: list[int], device="cpu", optimizer: str = "sgd",
                warmup: int = 20, iters: int = 50, repeats: int = 15, compile_mode: str | None = None,
                phases: bool = False, activation: str = "relu", log=print) -> tuple[list[Record], float]:
    """Per-step records for every (engine, batch size), interleaved; and the matmul FLOP/s. With
    `phases`, each engine's steps are then profiled for the time per phase (not for compiled engines,
    whose code runs as one graph and whose labels overlap). Every engine's hidden layers use
    `activation`."""
    device = resolve_device(device)
    config = MLPConfig()
    peak = matmul_rate(device)
    log(f"matmul rate on {device}: {peak / 1e9:.1f} GFLOP/s (float32)")
    fma_peak = _fma_peak(device)
    if fma_peak:
        log(f"float32 FMA peak on {device}: {fma_peak:.1f} GFLOP/s (the widest ISA; % peak divides by it)")
    bf16_peak = _fma_peak(device, "bf16") if any(n.endswith(":bf16") for n in engines) else None
    if bf16_peak:
        log(f"bf16 peak on {device} ({bf16_peak_isa()}, the bf16 products' kernel): {bf16_peak:.1f} GFLOP/s "
            f"(% peak of the :bf16 rows divides by it)")
    peak_of = lambda name: bf16_peak if name.endswith(":bf16") and bf16_peak else fma_peak
    records = []
    for bs in batch_sizes:
        g = torch.Generator().manual_seed(bs)
        x = torch.randn(bs, 1, 28, 28, generator=g).to(device)
        y = torch.randint(0, 10, (bs,), generator=g).to(device)
        built = {}
        for name in engines:
            # one batch, ~800 steps: at STEP_LR (ops/tune.py says why) no engine memorises it, and each step
            # is the first step of training
            eng = _build(name, device, optimizer, compile_mode, activation, lr=STEP_LR)
            with _gemm_for(name), Timer(device) as t:
                for _ in range(warmup):
                    eng.step(x, y)
            built[name] = (eng, t.seconds)
        samples: dict[str, list[float]] = {name: [] for name in engines}
        for turn in shuffled_rounds(list(built), repeats):
            for name in turn:
                eng = built[name][0]
                with _gemm_for(name), Timer(device, counted=True) as t:
                    for _ in range(iters):
                        eng.step(x, y)
                samples[name].append(t.seconds / iters)
        for name, (eng, first) in built.items():
            q1, med, q3 = _quartiles(samples[name])
            flops = config.flops_per_sample() * bs / med
            cost = intensity.step(config, bs, x.element_size(), optimizer)
            split = None
            base = name.partition(":")[0].partition("@")[0]
            if phases and base not in COMPILED + PEERS + GPU_ENGINES:    # these have no phases to profile
                with _gemm_for(name):
                    split = phase_times(eng, x, y)
            records.append(Record(name, "resident-batch", str(device), bs, med, q3 - q1, bs / med,
                                  gflops=flops / 1e9, pct_matmul=100 * flops / peak, first_steps_s=first,
                                  pct_peak=100 * flops / 1e9 / peak_of(name) if fma_peak else None,
                                  flops=cost.flops, min_bytes=cost.bytes, phases=split))
        log(f"batch {bs}: done")
    if fma_peak:
        from .bench_gemm import speed_drift

        speed_drift(fma_peak, log=log)
    _speedups(records)
    return records, peak


def _fma_peak(device: torch.device, isa: str = "auto") -> float | None:
    """GFLOP/s of the CPU's widest FMA (isa 'bf16': of the instructions its bf16 products run on, AMX
    tiles or vdpbf16ps), or None (a GPU, no such instructions, or no kernels to measure with)."""
    if device.type != "cpu":
        return None
    from .. import ops
    from .bench_gemm import measured_peak_gflops

    try:
        if isa == "bf16":
            isa = bf16_peak_isa()
            if isa is None:
                return None
        return measured_peak_gflops(isa=isa)
    except ops.BuildError:
        return None


def bench_epoch(engines: list[str], batch_size: int = 64, device="cpu", optimizer: str = "sgd",
                samples: int = 60_000, compile_mode: str | None = None, repeats: int = 1, log=print) -> list[Record]:
    """Epochs of the seed's loop (reference + DataLoader) and of every engine + the tensor loader.
    With `repeats` > 1 they take turns, epoch by epoch (a slow phase of the machine hits them alike),
    and each record holds the median epoch and its IQR."""
    device = resolve_device(device)
    split = D.synthetic_mnist(samples)
    runs = []
    for name, loader_kind in [("reference", "dataloader")] + [(name, "tensor") for name in engines]:
        eng = _build(name, device, optimizer, compile_mode)
        loader = D.make_loader(loader_kind, split, batch_size, device=device, seed=0)
        with _gemm_for(name), Timer(device) as warm:       # compile and allocate outside the epoch,
            for x, y in itertools.islice(loader.epoch(0), 3):  # for the full batch shape and for the
                eng.step(x, y)                             # last, partial one (a new shape recompiles)
            if samples % batch_size:
                eng.step(x[: samples % batch_size], y[: samples % batch_size])
            if loader_kind == "tensor":
                eng.prepare_epoch(loader.x, loader.y, batch_size)
        runs.append((name, loader_kind, eng, loader, warm.seconds, []))
    for r, turn in enumerate(shuffled_rounds(runs, repeats)):
        for name, loader_kind, eng, loader, _, times in turn:
            with _gemm_for(name), Timer(device, counted=True) as t:
                if loader_kind == "tensor":
                    eng.train_epoch(loader.x, loader.y, loader.order(1 + r), batch_size)
                else:
                    for x, y in loader.epoch(1 + r):
                        eng.step(x, y)
            times.append(t.seconds)
            log(f"{name} + {loader_kind}: {t.seconds:.3f} s per epoch (batch {batch_size})")
    records = []
    for name, loader_kind, _, _, warm_s, times in runs:
        q1, med, q3 = _quartiles(times)
        records.append(Record(name, loader_kind, str(device), batch_size, med, q3 - q1, samples / med,
                              first_steps_s=warm_s, epoch_s=med))
    _speedups(records, by_loader=False)
    return records


def _interleaved(calls: list, device: torch.device, iters: int, repeats: int) -> list[list[float]]:
    """Seconds per call of each callable, one sample per round: 5 calls each to warm up, then
    `repeats` rounds in which every callable runs `iters` times in turn (drift hits them alike)."""
    for f in calls:
        for _ in range(5):
            f()
    samples: list[list[float]] = [[] for _ in calls]
    for turn in shuffled_rounds(list(range(len(calls))), repeats):
        for k in turn:
            f = calls[k]
            synchronize(device)
            with Timer(device, counted=True) as t:
                for _ in range(iters):
                    f()
            samples[k].append(t.seconds / iters)
    return samples


def bench_linear_forward(batch_sizes: list[int], device="cuda", in_features: int = 784, out_features: int = 128,
                         iters: int = 50, repeats: int = 15, log=print) -> list[Record]:
    """SimpleNet's first layer forward with ReLU, per implementation: torch (addmm + relu, cuBLAS on a
    GPU), the bare GEMM (mm, no epilogue), and the fused op (on CUDA: v1 tiled, v2 cuBLASLt epilogue)."""
    from .. import ops

    device = resolve_device(device)
    ops.load_cuda() if device.type == "cuda" else ops.load()
    records = []
    for bs in batch_sizes:
        g = torch.Generator().manual_seed(bs)
        x = torch.randn(bs, in_features, generator=g).to(device)
        w, b = torch.randn(out_features, in_features, generator=g).to(device), torch.randn(out_features).to(device)
        impls = {"torch addmm+relu": lambda: torch.relu(torch.addmm(b, x, w.t())),
                 "bare mm (no epilogue)": lambda: torch.mm(x, w.t()),
                 "fused linear_forward": lambda: ops.linear_forward(x, w, b, "relu")}
        if device.type == "cuda":
            for v in ops.linear_versions(x.dtype):
                impls[f"fused v{v} ({ops.LINEAR_VERSIONS[v][0]})"] = \
                    lambda v=v: torch.ops.minitorch_clf.linear_forward_v(x, w, b, "relu", v)
        samples = dict(zip(impls, _interleaved(list(impls.values()), device, iters, repeats)))
        flops = 2 * bs * in_features * out_features
        layer = MLPConfig(in_features, (out_features,), 10)
        fused = intensity.linear_forward(layer, bs, 0, x.element_size())
        bare = intensity.gemm("mm", bs, out_features, in_features, x.element_size())
        for name in impls:
            q1, med, q3 = _quartiles(samples[name])
            cost = bare if name.startswith("bare") else fused
            records.append(Record(name, "-", str(device), bs, med, q3 - q1, bs / med, gflops=flops / med / 1e9,
                                  flops=flops, min_bytes=cost.bytes))
        base = {r.engine: r.median_s for r in records if r.batch_size == bs}["bare mm (no epilogue)"]
        for r in records:
            if r.batch_size == bs:
                r.speedup = base / r.median_s          # >1: faster than the bare GEMM
        log(f"linear forward, batch {bs}: done")
    return records


def bench_memory_ops(batch_sizes: list[int], device="cpu", iters: int = 50, repeats: int = 15,
                     log=print) -> list[Record]:
    """The step's kernels that are not GEMMs, fused op against torch, interleaved: the cross-entropy
    forward + backward (N, 10) at each batch size, and the SGD-with-momentum update of SimpleNet's
    109,386 parameters (one size: it does not depend on the batch). Memory-bound kernels: on a
    roofline they sit left of the ridge, under the bandwidth line."""
    from .. import ops

    device = resolve_device(device)
    ops.load_cuda() if device.type == "cuda" else ops.load()
    config = MLPConfig()
    params = [torch.randn(o, i).to(device) for i, o in zip(config.sizes, config.sizes[1:])]
    params += [torch.randn(o).to(device) for o in config.sizes[1:]]
    grads, bufs = [torch.randn_like(p) for p in params], [torch.zeros_like(p) for p in params]
    n_params = sum(p.numel() for p in params)
    torch_sgd = torch.optim.SGD([torch.nn.Parameter(p.clone()) for p in params], lr=1e-3, momentum=0.9, foreach=True)
    for p, g in zip(torch_sgd.param_groups[0]["params"], grads):
        p.grad = g
    records = []
    jobs = [(None, "SGD update: sgd_update_ (fused op)",
             lambda: torch.ops.minitorch_clf.sgd_update_(params, grads, bufs, 1e-3, 0.9, 0.0, 0.0, False, False, False),
             intensity.sgd_update(n_params)),
            (None, "SGD update: torch.optim.SGD (foreach)", torch_sgd.step, intensity.sgd_update(n_params))]
    for bs in batch_sizes:
        g = torch.Generator().manual_seed(bs)
        z, y = torch.randn(bs, 10, generator=g).to(device), torch.randint(0, 10, (bs,), generator=g).to(device)
        onehot = torch.nn.functional.one_hot(y, 10).to(z.dtype)
        ce = intensity.cross_entropy(bs, 10)
        jobs.append((bs, "cross-entropy: fused op", lambda z=z, y=y: ops.cross_entropy_forward_backward(z, y), ce))
        jobs.append((bs, "cross-entropy: torch (log_softmax, nll, softmax - onehot)",
                     lambda z=z, y=y, o=onehot: (torch.nn.functional.cross_entropy(z, y),
                                                 (torch.softmax(z, 1) - o) / len(y)), ce))
    samples = _interleaved([f for _, _, f, _ in jobs], device, iters, repeats)
    for (bs, name, _, cost), times in zip(jobs, samples):
        q1, med, q3 = _quartiles(times)
        records.append(Record(name, "-", str(device), bs or 0, med, q3 - q1, (bs or 0) / med,   # batch 0: none
                              gflops=cost.flops / med / 1e9, flops=cost.flops, min_bytes=cost.bytes))
    log("cross-entropy and SGD update: done")
    return records


def _speedups(records: list[Record], by_loader: bool = True) -> None:
    """speedup = reference's time / this time, at the same batch size (and, in epoch mode, against
    the seed's reference + DataLoader); vs_graphed likewise against graphed-reference where it ran."""
    for r in records:
        for engine, field in (("reference", "speedup"), ("graphed-reference", "vs_graphed")):
            base = [b for b in records if b.engine == engine and b.batch_size == r.batch_size
                    and (not by_loader or b.loader == r.loader)]
            if not by_loader:
                base = [b for b in base if b.loader == "dataloader"] or base
            if base:
                setattr(r, field, base[0].median_s / r.median_s)


def format_table(records: list[Record], epoch: bool = False, time_label: str | None = None,
                 speedup_label: str = "speedup") -> str:
    graphed = any(r.vs_graphed for r in records)        # a GPU run with the seed's step as one CUDA graph
    head = ["engine", "loader", "batch", time_label or ("median epoch s" if epoch else "median step"), "IQR", "samples/s",
            *(["vs graphed"] if graphed else []), speedup_label, "GFLOP/s", "% matmul", "% peak", "warm-up s"]
    rows = []
    for r in records:
        t = f"{r.median_s:.3f}" if epoch else seconds_text(r.median_s)
        rows.append([r.engine, r.loader, str(r.batch_size), t, f"{r.iqr_s:.3f}" if epoch else seconds_text(r.iqr_s),
                     f"{r.samples_per_s:,.0f}" if r.samples_per_s else "-",
                     *([f"{r.vs_graphed:.2f}x" if r.vs_graphed else "-"] if graphed else []),
                     f"{r.speedup:.2f}x" if r.speedup else "-",
                     f"{r.gflops:.1f}" if r.gflops else "-", f"{r.pct_matmul:.1f}" if r.pct_matmul else "-",
                     f"{r.pct_peak:.1f}" if r.pct_peak else "-",
                     f"{r.first_steps_s:.2f}" if r.first_steps_s is not None else "-"])
    return text_table(head, rows, left=2)


def write_json(records: list[Record], path: Path, kind: str, machine: dict, ceilings: dict | None,
               **meta) -> None:
    """One bench run: {"schema", "kind" (steps, epoch, ops, gemm), "machine", "ceilings", "meta",
    "records"}; `minitorch-clf report` reads it. Written whole to a temporary file, then renamed."""
    doc = {"schema": SCHEMA, "kind": kind, "machine": machine, "ceilings": ceilings, "meta": meta,
           "records": [asdict(r) for r in records]}
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(path)


def plot(records: list[Record], path: Path, title: str) -> None:
    """Bar chart of samples/s per engine, grouped by batch size (log scale)."""
    plt = pyplot()

    groups = sorted({r.batch_size for r in records})
    names = list(dict.fromkeys(f"{r.engine} ({r.loader})" for r in records))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(groups) * len(names) ** 0.5), 4))
    for i, name in enumerate(names):
        xs, ys = [], []
        for j, bs in enumerate(groups):
            match = [r for r in records if f"{r.engine} ({r.loader})" == name and r.batch_size == bs]
            if match:
                xs.append(j + i * width)
                ys.append(match[0].samples_per_s)
        ax.bar(xs, ys, width, label=name)
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(groups))], [f"batch {b}" for b in groups])
    ax.set_yscale("log")
    ax.set_ylabel("training samples / s (higher is better)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
