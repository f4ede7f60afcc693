"""With edge_tile16.patch (a 16 x 16 AVX-512 tile for panels of at most 16 columns, switched off by
MTC_EDGE=0): dW-like products with N = 768 and 784 and the step at 1024, both ways in turns."""
import os, statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load(); lib = torch.ops.minitorch_clf
cases = {}
for N in (768, 784):
    sh = tune.Shape(128, N, 1024, "columns", "rows")
    a, b = sh.operands(seed=1)
    cases[N] = (a, b, tune.derived_plan(sh).ints())
B = 1024; SIZES = (784, 128, 64, 10)
tune.ensure(B, SIZES)
_, (acts, weights, _) = tune.step_products(B, SIZES)
step = tune.sgd_step(acts, weights)
# same bits both ways
a, b, ints = cases[784]
os.environ["MTC_EDGE"] = "0"; c0 = lib.own_mm_plan(a, b, ints)
os.environ["MTC_EDGE"] = "1"; c1 = lib.own_mm_plan(a, b, ints)
print("same bits:", torch.equal(c0, c1))
calls = {}
for mode in "01":
    for N, (a, b, ints) in cases.items():
        calls[f"edge16={mode} N={N}"] = (mode, lambda a=a, b=b, ints=ints: lib.own_mm_plan(a, b, ints))
    calls[f"edge16={mode} step@1024"] = (mode, step)
res = {k: [] for k in calls}
for r in range(11):
    for k, (mode, f) in (list(calls.items()) if r % 2 else list(calls.items())[::-1]):
        os.environ["MTC_EDGE"] = mode; f()
        t0 = time.perf_counter()
        for _ in range(10): f()
        res[k].append((time.perf_counter() - t0) / 10 * 1e6)
for k, v in res.items(): print(f"{k:22s} {statistics.median(v):7.1f} us ({min(v):.1f}-{max(v):.1f})")
