import sys, time, resource
import torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load()
bs = int(sys.argv[1]); n = int(sys.argv[2])
_, (acts, weights, _) = tune.step_products(bs, (784, 128, 64, 10))
step = tune.sgd_step(acts, weights)
for _ in range(50): step()
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
t0 = time.perf_counter()
for _ in range(n): step()
t = (time.perf_counter() - t0) / n
r1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(f"batch {bs}: {t*1e6:.1f} us per step, {(r1 - r0) / n:.1f} minor page faults per step")
