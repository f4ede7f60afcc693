"""The SGD update's time in the timed step (tune.sgd_step) at a batch, by the profiler's "step: sgd update"
scope, after 3,000 steps at a learning rate: python update_at_batch1.py BATCH LR (FTZ=1: flush subnormals)."""
import os, sys, time, torch
from torch.profiler import profile, ProfilerActivity
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load()
if os.environ.get("FTZ"): torch.set_flush_denormal(True)
B, lr = int(sys.argv[1]), float(sys.argv[2])
tune.ensure(B, (784, 128, 64, 10))
tune.STEP_LR = lr
_, (acts, weights, _) = tune.step_products(B, (784, 128, 64, 10))
step = tune.sgd_step(acts, weights)
for _ in range(3000): step()
t0 = time.perf_counter()
for _ in range(2000): step()
per = (time.perf_counter() - t0) / 2000 * 1e6
with profile(activities=[ProfilerActivity.CPU]) as prof:
    for _ in range(300): step()
ev = {e.key: e.cpu_time_total / e.count for e in prof.key_averages() if e.key.startswith("step:")}
tiny = torch.finfo(torch.float32).tiny
sub = sum(int(((t != 0) & (t.abs() < tiny)).sum()) for t in step.args[4])
print(f"batch {B} lr {lr:g} FTZ {bool(os.environ.get('FTZ'))}: step {per:.1f} us, sgd update {ev['step: sgd update']:.1f} us, "
      f"fc1 backward {ev['step: fc1 backward']:.1f} us; subnormal momentum entries {sub}")
