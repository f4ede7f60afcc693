"""Where the time of the fused CPU step goes, piece by piece: the one-call step (op mlp_sgd_step_, SimpleNet,
ReLU, SGD with momentum) under torch.profiler, its scopes (kernels/cpu/train_step.cpp, linear.cpp)
averaged over the recorded steps.

    python benchmarks/step_pieces.py [BATCH ...]        (default 64 1024)

The profiler adds about a microsecond per scope (a dozen per step), so the pieces are for proportions;
`minitorch-clf bench --gemm` times the step and its products without it. "outside the products" is
the cross-entropy, the bias gradients and the SGD update; the forward scopes hold each product with
its bias and activation epilogue.
"""
import sys

import torch
from torch.profiler import ProfilerActivity, profile

from minitorch_clf import ops
from minitorch_clf.ops import tune
from minitorch_clf.tools.profiling import quiet_kineto

SIZES = (784, 128, 64, 10)


def pieces(batch_size: int) -> dict[str, float]:
    """Microseconds per step in each scope of the one-call step, and in the call itself."""
    _, (acts, weights, _) = tune.step_products(batch_size, SIZES)
    step = tune.sgd_step(acts, weights)
    for _ in range(20):
        step()
    n = max(20, 12_800 // batch_size)
    quiet_kineto()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(n):
            step()
    return {e.key: e.cpu_time_total / n for e in prof.key_averages()
            if e.key.startswith(("step:", "backward:")) or e.key == "minitorch_clf::mlp_sgd_step_"}


def main(batch_sizes: list[int]) -> None:
    ops.load()
    print(f"{torch.get_num_threads()} threads, GEMM ISAs {', '.join(ops.cpu_isas())}, tuned plans "
          f"{'off' if tune.mode() == 'off' else 'on'}")
    for bs in batch_sizes:
        tune.ensure(bs, SIZES)
        t = pieces(bs)
        whole = t.pop("minitorch_clf::mlp_sgd_step_")
        print(f"batch {bs}: the step {whole:.1f} us (profiled)")
        for name, us in sorted(t.items(), key=lambda kv: -kv[1]):
            print(f"  {name:28s} {us:8.1f} us  {100 * us / whole:4.0f}%")
        outside = sum(t.get(k, 0.0) for k in ("step: cross-entropy", "backward: bias gradient", "step: sgd update"))
        print(f"  outside the products         {outside:8.1f} us  {100 * outside / whole:4.0f}%")


if __name__ == "__main__":
    main([int(v) for v in sys.argv[1:]] or [64, 1024])
