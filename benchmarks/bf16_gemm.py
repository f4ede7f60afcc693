"""The GEMM's bf16 products against its float32 ones, in turns: fc1's two big products alone, the eight of
a SimpleNet step in one call, and the whole fused SGD step (mlp_sgd_step_), at each batch size.

    python benchmarks/bf16_gemm.py [BATCH ...]          (default 64 1024; needs AVX512-BF16)
"""
import sys

import torch

from minitorch_clf import ops
from minitorch_clf.ops import tune


def compare(batch_size: int, rounds: int = 11) -> dict[str, tuple[float, float]]:
    """{what: (float32 seconds, bf16 seconds)}, medians of interleaved rounds."""
    products, (acts, weights, dzs) = tune.step_products(batch_size, (784, 128, 64, 10))
    step = tune.sgd_step(acts, weights)
    last = [None]

    def use(precision: str) -> None:                   # switched once per turn, not per call
        if last[0] != precision:
            ops.set_precision(precision)
            last[0] = precision

    work = {"all eight (one call)": lambda: ops.mlp_products(acts, weights, dzs, "own"), "whole SGD step": step}
    work.update({name: (lambda a=a, b=b: ops.own_mm(a, b)) for name, a, b in (products[0], products[3])})
    calls = {(what, p): (lambda f=f, p=p: (use(p), f())) for what, f in work.items() for p in ("float32", "bf16")}
    with ops.precision("float32"):
        m = tune.medians(calls, rounds)
    return {what: (m[what, "float32"], m[what, "bf16"]) for what in work}


def main(batch_sizes: list[int]) -> None:
    if "bf16" not in ops.gemm_formats():
        sys.exit("this CPU has no AVX512-BF16: the GEMM's bf16 products do not run here")
    print(f"{torch.get_num_threads()} threads; the GEMM's formats: {', '.join(ops.gemm_formats())}")
    for bs in batch_sizes:
        for what, (f32, bf16) in compare(bs).items():
            print(f"batch {bs:5d}  {what:22s} float32 {f32 * 1e6:9.1f} us   bf16 {bf16 * 1e6:9.1f} us   {f32 / bf16:.2f}x")


if __name__ == "__main__":
    main([int(v) for v in sys.argv[1:]] or [64, 1024])
