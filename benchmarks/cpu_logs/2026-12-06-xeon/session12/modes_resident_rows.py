import os, sys, time, statistics, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
from minitorch_clf.config import MLPConfig
from minitorch_clf.tools.bench_gemm import step_products
ops.load()
lib = torch.ops.minitorch_clf
modes = {"layered+beside": {"MTC_NO_ROWS": "1"}, "rows": {}, "rows+sums beside": {"MTC_SUMS_ALWAYS": "1"}}
for bs in map(int, sys.argv[1].split(",")):
    tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
    _, (acts, weights, dzs) = step_products(bs)
    step = tune.sgd_step(acts, weights)
    x, y, W, B, bufs = step.args[:5]
    n = max(20, 6000 // bs)
    order = torch.randperm(n * bs) % x.shape[0] if False else torch.arange(bs).repeat(n)
    ep = lambda: lib.mlp_sgd_epoch_(x, y, order, bs, False, W, B, bufs, "relu", tune.STEP_LR, 0.9, 0.0, 0.0, False, False)
    times = {m: [] for m in modes}
    for r in range(15):
        for m, env in modes.items():
            for k in ("MTC_NO_ROWS", "MTC_SUMS_ALWAYS"): os.environ.pop(k, None)
            os.environ.update(env)
            ep()
            t0 = time.perf_counter(); ep(); times[m].append((time.perf_counter() - t0) / n * 1e6)
    print(f"batch {bs}: " + ", ".join(f"{m} {statistics.median(v):.1f}" for m, v in times.items()) + " us/step (medians of 15 rounds in turns)", flush=True)
