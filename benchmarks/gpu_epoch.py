"""The 60,000-image epoch at batch 64 on a GPU, three ways, in one process:

    python benchmarks/gpu_epoch.py [--device cuda] [--samples 60000] [--batch-size 64] [--epochs 5] [--json FILE]

  steps         the fused engine's step() per batch (a CUDA graph per step), batches gathered per step
  epoch graph   Engine.train_epoch: the whole epoch captured as one CUDA graph (capture time printed
                apart), replayed once per epoch
  epoch kernel  Engine.train_epoch with cuda_epoch = "kernel": one launch of mlp_sgd_epoch_ (every step's
                phases in one cooperative kernel, kernels/cuda/persistent_step.cu), a second engine from
                the same seed; the kernels one such epoch launches are counted (CUDA only)
and, for the kernel count, one eager fused step under torch.profiler: every kernel with its GPU time;
then the first layers' forward, v1 (tiled) against v2 (cuBLASLt), per call inside a CUDA graph.
Every epoch is bracketed by CUDA events; the first replay of the epoch graph is reported apart from
the median of the others. The goals: <= 50 ms per epoch (the GPU issue), <= 10 ms (issue 27, stretch 6 ms).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from minitorch_clf import data as D                      # noqa: E402
from minitorch_clf import ops                            # noqa: E402
from minitorch_clf.tools.timing import Timer               # noqa: E402
from minitorch_clf.tools.machine import machine_info      # noqa: E402
from minitorch_clf.engines import Engine, build_engine     # noqa: E402


def kernels_of_one_step(eng, x, y) -> list[tuple[str, float]]:
    """(kernel name, GPU µs) of one eager (layer-by-layer) fused step, in launch order."""
    from torch.profiler import ProfilerActivity, profile

    whole, eng.whole_step = eng.whole_step, False
    eng.step(x, y)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        eng.step(x, y)
        torch.cuda.synchronize()
    eng.whole_step = whole
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    return [(e.name, e.time_range.elapsed_us()) for e in sorted(kernels, key=lambda e: e.time_range.start)]


def forward_versions(shapes, launches: int = 100) -> list[tuple[tuple, int, float]]:
    """(shape (N, I, O), version, GPU µs per call) of linear_forward_v with ReLU, float32: `launches`
    calls captured in one CUDA graph, the median of 5 replays over `launches` - in-graph time, the
    launch gaps of a replay included, as in the epoch graph."""
    import statistics as st

    out = []
    for n, i, o in shapes:
        x, w, b = torch.randn(n, i, device="cuda"), torch.randn(o, i, device="cuda"), torch.randn(o, device="cuda")
        for version in ops.linear_versions(torch.float32):
            torch.ops.minitorch_clf.linear_forward_v(x, w, b, "relu", version)         # handles, workspace
            torch.cuda.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                for _ in range(launches):
                    torch.ops.minitorch_clf.linear_forward_v(x, w, b, "relu", version)
            graph.replay()
            times = []
            for _ in range(5):
                with Timer(torch.device("cuda")) as t:
                    graph.replay()
                times.append(t.seconds / launches * 1e6)
            out.append(((n, i, o), version, st.median(times)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--samples", type=int, default=60_000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    loader = D.TensorLoader(D.synthetic_mnist(args.samples), args.batch_size, device=device, seed=0)
    eng = build_engine("fused", optimizer="sgd", lr=0.01, momentum=0.9, device=device, seed=0)
    with Timer(device) as warm:                                 # momentum buffers, per-step graphs, both shapes
        for x, y in loader.epoch(0):
            eng.step(x, y)
    t0 = time.perf_counter()
    eng.prepare_epoch(loader.x, loader.y, args.batch_size)
    capture_s = time.perf_counter() - t0
    rows = {"steps": [], "epoch graph": []}
    kernel = None
    if cuda:
        kernel = build_engine("fused", optimizer="sgd", lr=0.01, momentum=0.9, device=device, seed=0)
        kernel.cuda_epoch = "kernel"
        kernel.train_epoch(loader.x, loader.y, loader.order(0), args.batch_size)   # its first step makes the buffers
        rows["epoch kernel"] = []
    for e in range(1, args.epochs + 1):                         # interleaved: drift hits all alike
        with Timer(device) as t:
            Engine.train_epoch(eng, loader.x, loader.y, loader.order(e), args.batch_size)   # the loop of step()
        rows["steps"].append(t.seconds)
        with Timer(device) as t:
            losses = eng.train_epoch(loader.x, loader.y, loader.order(e), args.batch_size)
        rows["epoch graph"].append(t.seconds)
        if kernel is not None:
            with Timer(device) as t:
                kernel_losses = kernel.train_epoch(loader.x, loader.y, loader.order(e), args.batch_size)
            rows["epoch kernel"].append(t.seconds)
            assert torch.isfinite(kernel_losses).all() and len(kernel_losses) == len(loader)
    assert torch.isfinite(losses).all() and len(losses) == len(loader)
    result = {"machine": machine_info(device), "samples": args.samples, "batch_size": args.batch_size,
              "steps_per_epoch": len(loader), "warmup_epoch_s": warm.seconds, "capture_s": capture_s,
              "epoch_s": rows, "one_graph": getattr(eng, "epoch_graph", None) is not None}
    print(f"{args.samples} samples, batch {args.batch_size}, {len(loader)} steps; warm-up epoch {warm.seconds:.3f} s, "
          f"epoch-graph capture {capture_s:.3f} s (one graph: {result['one_graph']})")
    print(f"{'variant':12s} {'first ms':>9s} {'median ms (rest)':>17s} {'min ms':>8s} {'µs/step':>8s}")
    for name, ts in rows.items():
        rest = ts[1:] or ts
        med = statistics.median(rest)
        print(f"{name:12s} {ts[0] * 1e3:9.1f} {med * 1e3:17.1f} {min(ts) * 1e3:8.1f} {med / len(loader) * 1e6:8.1f}")
    if cuda:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            kernel.train_epoch(loader.x, loader.y, loader.order(99), args.batch_size)
            torch.cuda.synchronize()
        launched = [e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        result["kernels_of_one_kernel_epoch"] = launched
        print(f"one epoch kernel's epoch: {len(launched)} kernels ({sum('persistent_epoch' in n for n in launched)} "
              f"the epoch kernel; the rest check and gather the targets)")
        x, y = next(iter(loader.epoch(99)))
        kernels = kernels_of_one_step(eng, x, y)
        result["kernels_of_one_step"] = kernels
        print(f"one eager fused step: {len(kernels)} kernels, {sum(t for _, t in kernels):.1f} µs of GPU time in all")
        for name, us in kernels:
            print(f"  {us:7.1f} µs  {name[:110]}")
        versions = forward_versions([(64, 784, 128), (64, 128, 64), (64, 64, 10), (1024, 784, 128), (1024, 128, 64)])
        result["forward_versions_us"] = versions
        print("linear_forward + ReLU, µs per call inside a graph of 100:  (N, I, O)  v1 (tiled)  v2 (cuBLASLt)")
        for k in range(0, len(versions), 2):
            print(f"  {str(versions[k][0]):16s} {versions[k][2]:8.1f} {versions[k + 1][2]:8.1f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
