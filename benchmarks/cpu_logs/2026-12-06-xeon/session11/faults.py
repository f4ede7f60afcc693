import resource, sys, time, torch
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
order = torch.arange(bs).repeat(500)
ep = lambda: lib.mlp_sgd_epoch_(x, y, order, bs, False, W, B, bufs, "relu", tune.STEP_LR, 0.9, 0.0, 0.0, False, False)
ep()
for name, f, n in (("epoch (C++ loop)", ep, 500), ("step from Python", lambda: [step() for _ in range(500)], 500)):
    r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter(); f(); dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    print(f"batch {bs}: {name}: {(r1 - r0) / n:.1f} minor page faults per step, {dt / n * 1e6:.1f} us/step")
