"""The one-kernel CUDA step (mlp_sgd_step_ on CUDA, kernels/cuda/persistent_step.cu) beside the fused engine's
step (its layer-by-layer kernels replayed as one CUDA graph) and graphed-reference (the seed's step as one
CUDA graph), per batch size, in turns.

    python benchmarks/gpu_one_kernel.py [BATCH ...]      (default 1 16 64 256 1024 4096 16384)

The one-kernel step is captured in a CUDA graph as well, so that all three are one replay each and the
difference is what runs inside it. Each round times 50 steps of each with CUDA events; the medians of 15
rounds, then the kernels one step of each launches (torch.profiler); then a fused engine with cuda_step
'auto' (its check of the one-kernel step against the layered one and its race of the two graphs) prints
what it chose. SimpleNet, ReLU, SGD lr 0.01,
momentum 0.9, float32, one resident random batch.
"""
import statistics
import sys

import torch
from torch.profiler import ProfilerActivity, profile

from minitorch_clf.engines import build_engine

ROUNDS, STEPS = 15, 50


def one_kernel(batch: int, x: torch.Tensor, y: torch.Tensor):
    """A step() that replays the one-kernel step captured over static x, y (a fused engine's parameters)."""
    engine = build_engine("fused", lr=0.01, momentum=0.9, device="cuda", seed=0)
    engine.whole_step = False
    engine.step(x, y)                                # the first step makes the momentum buffers
    args = engine._one_call_args()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):                    # warm-up off the capture stream, as torch documents
        torch.ops.minitorch_clf.mlp_sgd_step_(x, y, *args)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        loss = torch.ops.minitorch_clf.mlp_sgd_step_(x, y, *args)

    def step(*_):
        graph.replay()
        return loss

    return step


def kernels_of(step, x, y) -> int:
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        step(x, y)
        torch.cuda.synchronize()
    return sum(1 for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA)


def refuse(why: str) -> None:
    print(f"gpu_one_kernel: {why}", file=sys.stderr)
    raise SystemExit(2)


def main(batch_sizes: list[int]) -> None:
    if not torch.cuda.is_available():
        refuse("needs a CUDA GPU (the one-kernel step and the graphs are CUDA's)")
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(f"{'batch':>6} {'graphed-reference':>18} {'fused (graph)':>14} {'one kernel':>11} "
          f"{'fused/one':>10} {'graphed/one':>12}  kernels per step (graphed, fused, one)")
    for batch in batch_sizes:
        g = torch.Generator().manual_seed(batch)
        x, y = torch.randn(batch, 784, generator=g).cuda(), torch.randint(0, 10, (batch,), generator=g).cuda()
        steps = {name: build_engine(name, lr=0.01, momentum=0.9, device="cuda", seed=0).step
                 for name in ("graphed-reference", "fused")}
        steps["one kernel"] = one_kernel(batch, x, y)
        for step in steps.values():
            for _ in range(5):                       # the engines capture their graphs here
                step(x, y)
        times = {name: [] for name in steps}
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        for _ in range(ROUNDS):
            for name, step in steps.items():
                start.record()
                for _ in range(STEPS):
                    step(x, y)
                end.record()
                end.synchronize()
                times[name].append(start.elapsed_time(end) * 1e3 / STEPS)
        med = {name: statistics.median(ts) for name, ts in times.items()}
        counts = [kernels_of(steps[n], x, y) for n in ("graphed-reference", "fused", "one kernel")]
        print(f"{batch:>6} {med['graphed-reference']:>15.1f} us {med['fused']:>11.1f} us {med['one kernel']:>8.1f} us "
              f"{med['fused'] / med['one kernel']:>9.2f}x {med['graphed-reference'] / med['one kernel']:>11.2f}x  "
              f"{counts}", flush=True)
        auto = build_engine("fused", lr=0.01, momentum=0.9, device="cuda", seed=0)
        auto.cuda_step = "auto"                      # the engine's own check and race at its first capture
        for _ in range(5):
            auto.step(x, y)
        for choice in auto.step_choices.values():
            print(f"{'':>6} fused with cuda_step 'auto': {choice}", flush=True)


if __name__ == "__main__":
    if not all(v.isdigit() and int(v) > 0 for v in sys.argv[1:]):
        refuse(f"batch sizes are positive integers, got {' '.join(sys.argv[1:])}")
    main([int(v) for v in sys.argv[1:]] or [1, 16, 64, 256, 1024, 4096, 16384])
