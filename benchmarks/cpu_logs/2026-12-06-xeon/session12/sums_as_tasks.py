import os, random, statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
from minitorch_clf.config import MLPConfig
from minitorch_clf.tools.bench_gemm import step_products
ops.load()
lib = torch.ops.minitorch_clf
g = torch.Generator().manual_seed(0)
X = torch.rand(60000, 784, generator=g); Y = torch.randint(0, 10, (60000,), generator=g)
rng = random.Random(2)
for bs in map(int, sys.argv[1].split(",")):
    tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
    _, (acts, weights, dzs) = step_products(bs)
    step = tune.sgd_step(acts, weights)
    _, _, W, B, bufs = step.args[:5]
    order = torch.randperm(60000, generator=g)[:max(6400, 8 * bs)]
    ep = lambda: lib.mlp_sgd_epoch_(X, Y, order, bs, False, W, B, bufs, "relu", tune.STEP_LR, 0.9, 0.0, 0.0, False, False)
    modes = {"sums in turn": {}, "sums as tasks": {"MTC_TASKS": "1"}}
    st = {m: [] for m in modes}; et = {m: [] for m in modes}
    for r in range(12):
        ms = list(modes); rng.shuffle(ms)
        for m in ms:
            os.environ.pop("MTC_TASKS", None); os.environ.update(modes[m])
            step()
            t0 = time.perf_counter()
            for _ in range(30): step()
            st[m].append((time.perf_counter() - t0) / 30 * 1e6)
            t0 = time.perf_counter(); ep(); et[m].append((time.perf_counter() - t0) / (len(order) / bs) * 1e6)
    print(f"batch {bs}: step " + ", ".join(f"{m} {statistics.median(v):.1f}" for m, v in st.items()) +
          " | epoch/step " + ", ".join(f"{m} {statistics.median(v):.1f}" for m, v in et.items()), flush=True)
