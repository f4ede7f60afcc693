"""The step on the derived plans, and with fc2's and/or fc3's dW cut by k (2 ranges), timed in turns."""
import dataclasses, os, statistics, sys, time, torch
os.environ["MINITORCH_CLF_TUNE"] = "0"
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load(); lib = torch.ops.minitorch_clf
SIZES = (784, 128, 64, 10)
for B in map(int, sys.argv[1].split(",")):
    names = tune.step_shapes(B, SIZES)
    def rows(cut):
        out = []
        for name, shape in names:
            plan = tune.derived_plan(shape)
            if name in cut: plan = dataclasses.replace(plan, threads=2, split="k")
            out += shape.ints() + plan.ints()
        return out
    sets = {"derived": rows(()), "fc2 dW by k": rows(["fc2 dW = dzᵀ·x"]), "fc3 dW by k": rows(["fc3 dW = dzᵀ·x"]),
            "fc2, fc3 dW by k": rows(["fc2 dW = dzᵀ·x", "fc3 dW = dzᵀ·x"])}
    _, (acts, weights, _) = tune.step_products(B, SIZES)
    step = tune.sgd_step(acts, weights)
    n = max(5, int(20000 / B))
    res = {k: [] for k in sets}; keys = list(sets)
    for r in range(15):
        for k in (keys if r % 2 == 0 else keys[::-1]):
            lib.set_gemm_plans(sets[k]); step()
            t0 = time.perf_counter()
            for _ in range(n): step()
            res[k].append((time.perf_counter() - t0) / n * 1e6)
    lib.set_gemm_plans([])
    print(B, "  ".join(f"{k}: {statistics.median(v):.1f} ({min(v):.0f}-{max(v):.0f})" for k, v in res.items()))
