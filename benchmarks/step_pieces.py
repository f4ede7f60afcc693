"""Where the time of the fused CPU step goes, piece by piece: the one-call step (op mlp_sgd_step_, SimpleNet,
ReLU, SGD with momentum) under torch.profiler, its scopes (kernels/cpu/train_step.cpp, linear.cpp)
averaged over the recorded steps, each product named with its layer ("step: fc2 backward / dW product").

    python benchmarks/step_pieces.py [--precision float32|bf16] [--plot OUT.png] [BATCH ...]    (default 64 1024)

The products run on the plans the fused engine would use (ops/tune.py: tuned, or the derived ones with
MINITORCH_CLF_TUNE=0); --precision bf16 runs them in bf16 (ops.precision), on the kernel ops.bf16_kernels()
names first. The profiler adds about a microsecond per scope (a dozen per step), so the pieces are for
proportions; `minitorch-clf bench --gemm` times the step and its products without it. "outside the
products" is the cross-entropy, the bias gradients and the SGD update; the forward scopes hold each
product with its bias and activation epilogue. A weight's update made inside its dW product (train_step.cpp
says where) shows there ("dW product, W updated in it"), and "step: sgd update" holds the rest, the biases'
always.

With float32 products it also measures the FMA peak (the widest ISA, this process's threads; the best of five
after one to warm up, as bench does: a first reading on 2 cores can be half, 2026-12-07) and prints what the
step's eight products would take at it. --plot draws each batch's step as one bar, its pieces in the order they
run, with that ideal marked on it: where the time goes, and how far the step is from the peak.
"""
import argparse
import collections
import os
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from minitorch_clf import ops
from minitorch_clf.models import MLPConfig
from minitorch_clf.ops import tune
from minitorch_clf.plotting import pyplot
from minitorch_clf.run_folder import atomic_write
from minitorch_clf.tools.machine import cpu_model
from minitorch_clf.tools.bench_gemm import measured_peak_gflops
from minitorch_clf.tools.profiling import quiet_kineto

CONFIG = MLPConfig()      # SimpleNet: 784-128-64-10, ReLU
SIZES = CONFIG.sizes
STEP = "minitorch_clf::mlp_sgd_step_"
REST = "rest: the call, hand-offs, between scopes"
OUTSIDE = ("cross-entropy", "bias gradient", "sgd update")
IDEAL = "the eight products at the FMA peak"     # the table's line and the plot's mark


def pieces(batch_size: int) -> dict[str, float]:
    """Microseconds per step in each scope of the one-call step, and in the call itself (STEP). A scope
    inside a layer's ("backward: dW product" in "step: fc2 backward") is named with both."""
    _, (acts, weights, _) = tune.step_products(batch_size, SIZES)
    step = tune.sgd_step(acts, weights)
    for _ in range(20):
        step()
    n = max(20, 12_800 // batch_size)
    quiet_kineto()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(n):
            step()
    out = collections.defaultdict(float)
    for e in prof.events():
        if e.name.startswith("backward:") and e.cpu_parent is not None:
            out[f"{e.cpu_parent.name} / {e.name.removeprefix('backward: ')}"] += e.cpu_time_total / n
        elif e.name.startswith("step:") or e.name == STEP:
            out[e.name] += e.cpu_time_total / n
    return dict(out)


def ideal_us(batch_size: int, peak_gflops: float, whole_us: float) -> float | None:
    """Microseconds the step's eight products take at peak_gflops; None where that is longer than the whole step
    (whole_us), which no step can beat: then the peak reading was low (a core shared or taken), not the cores'."""
    ideal = CONFIG.flops_per_sample() * batch_size / (peak_gflops * 1e3)
    return ideal if ideal <= whole_us else None


def leaves(t: dict[str, float], whole: float) -> dict[str, float]:
    """The scopes that hold no other scope, and REST: the step's time in no leaf (the op call, the threads'
    hand-offs, a layer's time outside its inner scopes). They add up to the whole step (REST is 0 where the
    profiler's rounding puts the leaves above it)."""
    out = {name: us for name, us in t.items() if not any(other.startswith(name + " / ") for other in t)}
    out[REST] = max(0.0, whole - sum(out.values()))
    return out


def _order(name: str) -> tuple:
    """The order the step runs its pieces: the forwards, the loss, the backwards from fc3 down, the update."""
    n = name.removeprefix("step: ")
    if n.startswith("fc") and n.endswith("forward"):
        return (0, n)
    if n.startswith("layers after the first"):
        return (1, n)
    if n == "cross-entropy":
        return (2, n)
    if n.startswith("fc"):
        return (3, -int(n[2]), n)
    return (4, n) if n == "sgd update" else (5, n)


def _short(name: str) -> str:
    """A label that fits on its segment: "fc1 dW", "fc2 dx", "fc1 db", "fc1 y", "loss", "update", "rest"."""
    n = name.removeprefix("step: ")
    if n.startswith("layers after the first"):
        return "fc2-fc3 forward, loss, dx"
    for piece, short in (("dW product", "dW"), ("dx product", "dx"), ("bias gradient", "db"), ("forward", "y")):
        if n.startswith("fc") and piece in n:
            return f"{n[:3]} {short}"
    return {"cross-entropy": "loss", "sgd update": "update"}.get(n, n.split(":")[0])


def plot(rows: list[tuple[int, dict[str, float], float, float | None]], path: Path, title: str) -> None:
    """One bar per batch: its step's leaves as shares of the step, in the order they run (products blue, the
    loss, bias gradients and update orange, the rest grey), and where the eight products at the FMA peak would
    end (ideal, a black bar; None: not drawn). rows: (batch, leaves in us, the step in us, ideal in us)."""
    plt = pyplot()
    names = sorted({name for _, piece, _, _ in rows for name in piece}, key=_order)
    products = [n for n in names if n != REST and not n.endswith(OUTSIDE)]
    outside = [n for n in names if n.endswith(OUTSIDE)]
    colour = {n: plt.cm.Blues(0.35 + 0.55 * i / max(1, len(products) - 1)) for i, n in enumerate(products)}
    colour.update({n: plt.cm.Oranges(0.4 + 0.4 * i / max(1, len(outside) - 1)) for i, n in enumerate(outside)})
    colour[REST] = "0.75"
    fig, ax = plt.subplots(figsize=(13, 1.6 + 0.8 * len(rows)))
    labelled = set()
    for y, (batch, piece, whole, ideal) in enumerate(rows):
        left = 0.0
        for name in names:
            share = 100 * piece.get(name, 0.0) / whole
            if share <= 0:
                continue
            ax.barh(y, share, left=left, color=colour[name], edgecolor="white", linewidth=0.5,
                    label=None if name in labelled else name.removeprefix("step: "))
            labelled.add(name)
            if share >= 5:
                ax.text(left + share / 2, y, _short(name), ha="center", va="center", fontsize=8)
            left += share
        if ideal is not None:
            x = 100 * ideal / whole
            ax.plot([x, x], [y - 0.45, y + 0.45], color="black", lw=2.5,
                    label=IDEAL if y == 0 else None)
    ax.set_yticks(range(len(rows)), [f"batch {b}\n{w:,.0f} us" for b, _, w, _ in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of the step (profiled)")
    ax.set_title(title, fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: (labels[i] != IDEAL, _order(labels[i])))
    ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="center left", bbox_to_anchor=(1.01, 0.5),
              fontsize=7, frameon=False)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.error = lambda message: parser.exit(2, f"step_pieces: {message}\n")   # bad input: one line
    parser.add_argument("--precision", choices=("float32", "bf16"), default="float32")
    parser.add_argument("--plot", type=Path, metavar="OUT.png", help="draw the pieces of each batch's step")
    parser.add_argument("batch_sizes", nargs="*", type=int, default=[64, 1024], metavar="BATCH")
    args = parser.parse_args(argv)
    if any(b < 1 for b in args.batch_sizes):
        parser.error("BATCH: expected positive batch sizes")
    if args.plot and not (args.plot.parent.is_dir() and os.access(args.plot.parent, os.W_OK)):
        parser.error(f"--plot: cannot write into {args.plot.parent} (no such folder, or not writable)")
    ops.load()
    kernel = f" on {ops.bf16_kernels()[0]}" if args.precision == "bf16" else ""
    threads = torch.get_num_threads()
    print(f"{threads} threads, GEMM ISAs {', '.join(ops.cpu_isas())}, tuned plans "
          f"{'off' if tune.mode() == 'off' else 'on'}, products in {args.precision}{kernel}")
    peak = measured_peak_gflops() if args.precision == "float32" else None
    if peak is not None:
        print(f"FMA peak ({ops.cpu_isas()[0]}, {threads} threads, measured now): {peak:.1f} GFLOP/s")
    rows = []
    for bs in args.batch_sizes:
        tune.ensure(bs, SIZES)
        with ops.precision(args.precision):
            t = pieces(bs)
        whole = t.pop(STEP)
        print(f"batch {bs}: the step {whole:.1f} us (profiled)")
        for name, us in sorted(t.items()):
            print(f"  {name:40s} {us:8.1f} us  {100 * us / whole:4.0f}%")
        outside = sum(us for name, us in t.items() if name.endswith(OUTSIDE))
        print(f"  {'outside the products':40s} {outside:8.1f} us  {100 * outside / whole:4.0f}%")
        ideal = ideal_us(bs, peak, whole) if peak is not None else None
        if peak is not None and ideal is None:
            print(f"  (the step ran faster than its products at the {peak:.1f} GFLOP/s measured: that reading is "
                  f"below the cores' peak, so no ideal is drawn)")
        if ideal is not None:
            print(f"  {IDEAL:40s} {ideal:8.1f} us  {100 * ideal / whole:4.0f}%")
        rows.append((bs, leaves(t, whole), whole, ideal))
    if args.plot:
        title = f"The fused CPU step, piece by piece: {cpu_model()}, {threads} threads, products in {args.precision}{kernel}"
        try:
            plot(rows, args.plot, title)
        except OSError as e:
            parser.error(f"--plot: cannot write {args.plot} ({e.strerror or e})")
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
