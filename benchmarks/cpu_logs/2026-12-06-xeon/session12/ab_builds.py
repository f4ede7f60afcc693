"""One process of the A/B: the one-call SGD step (median of 11 rounds of 30 steps) and the epoch op over 12,800 rows
drawn in shuffled order from 60,000 resident ones (median of 5 epochs), for each batch size; plans from the shared
tuning cache (MINITORCH_CLF_TUNE_DIR)."""
import statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
from minitorch_clf.config import MLPConfig
from minitorch_clf.tools.bench_gemm import step_products
ops.load()
lib = torch.ops.minitorch_clf
g = torch.Generator().manual_seed(0)
X = torch.rand(60000, 784, generator=g); Y = torch.randint(0, 10, (60000,), generator=g)
out = []
for bs in map(int, sys.argv[1].split(",")):
    tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
    _, (acts, weights, dzs) = step_products(bs)
    step = tune.sgd_step(acts, weights)
    _, _, W, B, bufs = step.args[:5]
    order = torch.randperm(60000, generator=g)[:12800]
    ep = lambda: lib.mlp_sgd_epoch_(X, Y, order, bs, False, W, B, bufs, "relu", tune.STEP_LR, 0.9, 0.0, 0.0, False, False)
    step(); ep()
    st, et = [], []
    for r in range(11):
        t0 = time.perf_counter()
        for _ in range(30): step()
        st.append((time.perf_counter() - t0) / 30 * 1e6)
        if r % 2 == 0:
            t0 = time.perf_counter(); ep(); et.append((time.perf_counter() - t0) / (12800 / bs) * 1e6)
    out.append(f"{bs}: step {statistics.median(st):.1f} epoch/step {statistics.median(et):.1f}")
print(" | ".join(out))
