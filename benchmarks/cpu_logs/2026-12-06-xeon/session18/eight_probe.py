"""mlp_products' kernel called directly (ops.direct()), one call timed at a time, 200 calls after 50: the eight products
of a step at BATCH on the tuned plans, the derived plans and ATen's (MKL); min, p10, median and p90 per call. Beside
kernels/dev/build/gemm_step BATCH auto (no torch: the derived plans, best of 7 rounds) it shows what the op call and
the outputs' allocation add.   python eight_probe.py BATCH"""
import statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.config import MLPConfig
from minitorch_clf.ops import tune
ops.load(); d = ops.direct()
bs = int(sys.argv[1])
tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
_, (acts, weights, dzs) = tune.step_products(bs, MLPConfig().sizes)
for mode in ("tuned", "derived", "aten"):
    g = "aten" if mode == "aten" else "own"
    f = lambda: d.mlp_products(acts, weights, dzs, g)
    ctx = tune.derived_only() if mode == "derived" else None
    if ctx: ctx.__enter__()
    for _ in range(50): f()
    ts = []
    for _ in range(200):
        t0 = time.perf_counter_ns(); f(); ts.append((time.perf_counter_ns() - t0) / 1e3)
    if ctx: ctx.__exit__(None, None, None)
    ts.sort()
    print(f"{mode:8s} min {ts[0]:.1f}  p10 {ts[20]:.1f}  median {ts[100]:.1f}  p90 {ts[180]:.1f} us")
