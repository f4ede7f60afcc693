"""The timed step on the derived plans (MINITORCH_CLF_TUNE=0, the default here; =1: the tuned plans, searched
first where the cache has none) at each batch: the median of 9 rounds of about 0.2 s each.
python derived_step.py BATCHES [ISA]; SIZES=784,32,10 picks another MLP (default SimpleNet's)."""
import os, statistics, sys, time, torch
os.environ.setdefault("MINITORCH_CLF_TUNE", "0")
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load()
if len(sys.argv) > 2: torch.ops.minitorch_clf.set_isa(sys.argv[2])
SIZES = tuple(int(v) for v in os.environ.get("SIZES", "784,128,64,10").split(","))
out = []
for B in map(int, sys.argv[1].split(",")):
    if os.environ["MINITORCH_CLF_TUNE"] != "0": tune.ensure(B, SIZES)
    _, (acts, weights, _) = tune.step_products(B, SIZES)
    step = tune.sgd_step(acts, weights)
    t0 = time.perf_counter()
    for _ in range(10): step()
    n = max(20, int(0.2 / ((time.perf_counter() - t0) / 10)))
    for _ in range(n // 4): step()
    s = []
    for r in range(9):
        t0 = time.perf_counter()
        for _ in range(n): step()
        s.append((time.perf_counter() - t0) / n * 1e6)
    out.append(f"{B}:{statistics.median(s):.1f}")
print(" ".join(out))
