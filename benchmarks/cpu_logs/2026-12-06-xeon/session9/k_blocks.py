"""fc1's dW and forward alone at one batch with k_block 128-512 and either cut (own_mm_plan), medians of 7 rounds."""
import statistics, sys, time, torch, dataclasses
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load(); lib = torch.ops.minitorch_clf
B = int(sys.argv[1])
shapes = dict(tune.step_shapes(B, (784, 128, 64, 10)))
for name in ["fc1 dW = dzᵀ·x", "fc1 y = x·Wᵀ"]:
    sh = shapes[name]; a, b = sh.operands(seed=1)
    base = tune.derived_plan(sh)
    plans = {f"k{kb} {sp}": dataclasses.replace(base, k_block=kb, split=sp) for kb in (128, 192, 256, 344, 512) for sp in ("columns", "rows")}
    res = {k: [] for k in plans}
    for r in range(7):
        for k, p in plans.items():
            ints = p.ints(); lib.own_mm_plan(a, b, ints)
            t0 = time.perf_counter()
            for _ in range(10): lib.own_mm_plan(a, b, ints)
            res[k].append((time.perf_counter() - t0) / 10 * 1e6)
    print(name, "  ".join(f"{k}: {statistics.median(v):.0f}" for k, v in res.items()))
