"""Where the time of the fused CPU step goes, piece by piece: the one-call step (op mlp_sgd_step_, SimpleNet,
ReLU, SGD with momentum) under torch.profiler, its scopes (kernels/cpu/train_step.cpp, linear.cpp)
averaged over the recorded steps, each product named with its layer ("step: fc2 backward / dW product").

    python benchmarks/step_pieces.py [--precision float32|bf16] [BATCH ...]        (default 64 1024)

The products run on the plans the fused engine would use (ops/tune.py: tuned, or the derived ones with
MINITORCH_CLF_TUNE=0); --precision bf16 runs them in bf16 (ops.precision), on the kernel ops.bf16_kernels()
names first. The profiler adds about a microsecond per scope (a dozen per step), so the pieces are for
proportions; `minitorch-clf bench --gemm` times the step and its products without it. "outside the
products" is the cross-entropy, the bias gradients and the SGD update; the forward scopes hold each
product with its bias and activation epilogue. A weight's update made inside its dW product (train_step.cpp
says where) shows there ("dW product, W updated in it"), and "step: sgd update" holds the rest, the biases'
always.
"""
import argparse
import collections

import torch
from torch.profiler import ProfilerActivity, profile

from minitorch_clf import ops
from minitorch_clf.ops import tune
from minitorch_clf.tools.profiling import quiet_kineto

SIZES = (784, 128, 64, 10)
STEP = "minitorch_clf::mlp_sgd_step_"


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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.error = lambda message: parser.exit(2, f"step_pieces: {message}\n")   # bad input: one line
    parser.add_argument("--precision", choices=("float32", "bf16"), default="float32")
    parser.add_argument("batch_sizes", nargs="*", type=int, default=[64, 1024], metavar="BATCH")
    args = parser.parse_args(argv)
    if any(b < 1 for b in args.batch_sizes):
        parser.error("BATCH: expected positive batch sizes")
    ops.load()
    kernel = f" on {ops.bf16_kernels()[0]}" if args.precision == "bf16" else ""
    print(f"{torch.get_num_threads()} threads, GEMM ISAs {', '.join(ops.cpu_isas())}, tuned plans "
          f"{'off' if tune.mode() == 'off' else 'on'}, products in {args.precision}{kernel}")
    for bs in args.batch_sizes:
        tune.ensure(bs, SIZES)
        with ops.precision(args.precision):
            t = pieces(bs)
        whole = t.pop(STEP)
        print(f"batch {bs}: the step {whole:.1f} us (profiled)")
        for name, us in sorted(t.items()):
            print(f"  {name:40s} {us:8.1f} us  {100 * us / whole:4.0f}%")
        outside = sum(us for name, us in t.items()
                      if name.endswith(("cross-entropy", "bias gradient", "sgd update")))
        print(f"  {'outside the products':40s} {outside:8.1f} us  {100 * outside / whole:4.0f}%")


if __name__ == "__main__":
    main()
