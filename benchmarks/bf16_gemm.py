"""The GEMM's bf16 products against its float32 ones, in turns, on each bf16 kernel the CPU runs (AMX
tiles, vdpbf16ps, rounded copies on the float32 kernels): fc1's two big products alone, the eight of a SimpleNet step in one call, and the
whole fused SGD step (mlp_sgd_step_), at each batch size.

    python benchmarks/bf16_gemm.py [BATCH ...]          (default 64 1024)
"""
import sys

import torch

from minitorch_clf import ops
from minitorch_clf.ops import tune


def compare(batch_size: int, rounds: int = 11) -> dict[str, dict[str, float]]:
    """{what: {'float32' or a bf16 kernel: seconds}}, medians of interleaved rounds."""
    products, (acts, weights, dzs) = tune.step_products(batch_size, (784, 128, 64, 10))
    step = tune.sgd_step(acts, weights)
    modes = ["float32", *ops.bf16_kernels()]
    last = [None]

    def use(mode: str) -> None:                        # switched once per turn, not per call
        if last[0] != mode:
            ops.set_precision("float32" if mode == "float32" else "bf16")
            if mode != "float32":
                ops.set_bf16_kernel(mode)
            last[0] = mode

    work = {"all eight (one call)": lambda: ops.mlp_products(acts, weights, dzs, "own"), "whole SGD step": step}
    work.update({name: (lambda a=a, b=b: ops.own_mm(a, b)) for name, a, b in (products[0], products[3])})
    calls = {(what, m): (lambda f=f, m=m: (use(m), f())) for what, f in work.items() for m in modes}
    with ops.precision("float32"), ops.bf16_kernel("auto"):
        med = tune.medians(calls, rounds)
    return {what: {m: med[what, m] for m in modes} for what in work}


def main(batch_sizes: list[int]) -> None:
    print(f"{torch.get_num_threads()} threads; the GEMM's bf16 kernels here: {', '.join(ops.bf16_kernels())}")
    for bs in batch_sizes:
        for what, t in compare(bs).items():
            f32 = t.pop("float32")
            rest = "   ".join(f"bf16 {k} {s * 1e6:9.1f} us {f32 / s:5.2f}x" for k, s in t.items())
            print(f"batch {bs:5d}  {what:22s} float32 {f32 * 1e6:9.1f} us   {rest}")


if __name__ == "__main__":
    main([int(v) for v in sys.argv[1:]] or [64, 1024])
