# the epoch's steps with MTC_PF = 0 / 1 / 2 / 3 set per process by the caller; prints us/step
import sys, time, torch, statistics
from minitorch_clf import ops
from minitorch_clf.ops import tune
from minitorch_clf.config import MLPConfig
from minitorch_clf.tools.bench_gemm import step_products
ops.load()
lib = torch.ops.minitorch_clf
bs = int(sys.argv[1])
tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
_, (acts, weights, dzs) = step_products(bs)
step = tune.sgd_step(acts, weights)
x, y, W, B, bufs = step.args[:5]
g = torch.Generator().manual_seed(0)
X = torch.randn(60000, 784, generator=g); Y = torch.randint(0, 10, (60000,), generator=g)
steps = max(20, 30000 // bs)
out = []
for rep in range(5):
    order = torch.randperm(60000, generator=g)[: bs * steps]
    t0 = time.perf_counter()
    lib.mlp_sgd_epoch_(X, Y, order, bs, False, W, B, bufs, "relu", tune.STEP_LR, 0.9, 0.0, 0.0, False, False)
    out.append((time.perf_counter() - t0) / steps * 1e6)
print(f"{statistics.median(out[1:]):.1f}")
