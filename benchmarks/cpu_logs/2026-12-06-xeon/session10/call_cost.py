import time, statistics, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
from minitorch_clf.config import MLPConfig
from minitorch_clf.tools.bench_gemm import step_products
ops.load()
lib = torch.ops.minitorch_clf
for bs in (1, 64):
    tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
    _, (acts, weights, dzs) = step_products(bs)
    step = tune.sgd_step(acts, weights)
    x, y, W, B, bufs = step.args[:5]
    order = torch.arange(bs).repeat(100)
    ep = lambda: lib.mlp_sgd_epoch_(x, y, order, bs, False, W, B, bufs, "relu", tune.STEP_LR, 0.9, 0.0, 0.0, False, False)
    py = lambda: [step() for _ in range(100)]
    res = {"python loop": [], "C++ loop (epoch op)": []}
    for _ in range(3): ep(); py()
    for r in range(15):
        t0 = time.perf_counter(); py(); res["python loop"].append((time.perf_counter() - t0) / 100)
        t0 = time.perf_counter(); ep(); res["C++ loop (epoch op)"].append((time.perf_counter() - t0) / 100)
    print(bs, {k: f"min {min(v)*1e6:.1f} med {statistics.median(v)*1e6:.1f} us/step" for k, v in res.items()})
