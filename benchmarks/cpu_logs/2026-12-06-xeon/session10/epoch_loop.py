import sys, time, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
from minitorch_clf.config import MLPConfig
from minitorch_clf.tools.bench_gemm import step_products
ops.load()
lib = torch.ops.minitorch_clf
bs = int(sys.argv[1]); secs = float(sys.argv[2])
tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
_, (acts, weights, dzs) = step_products(bs)
step = tune.sgd_step(acts, weights)
x, y, W, B, bufs = step.args[:5]
order = torch.arange(bs).repeat(200)
ep = lambda: lib.mlp_sgd_epoch_(x, y, order, bs, False, W, B, bufs, "relu", tune.STEP_LR, 0.9, 0.0, 0.0, False, False)
ep()
t0 = time.perf_counter(); n = 0
while time.perf_counter() - t0 < secs:
    ep(); n += 200
print(f"{(time.perf_counter()-t0)/n*1e6:.1f} us/step", file=sys.stderr)
