"""The one-call SGD step set up as bf16_ab.py sets it up (W cloned from tune.step_products' weights, bias and
momentum buffers new zeros), timed in blocks, then profiled scope by scope (as step_pieces.py does): which piece
takes the time in the processes where the step runs slow.
    python slow_step_probe.py BATCH [float32|bf16]"""
import collections, statistics, sys, time, torch
from torch.profiler import ProfilerActivity, profile
from minitorch_clf import ops
from minitorch_clf.ops import tune
from minitorch_clf.config import MLPConfig
from minitorch_clf.tools.profiling import quiet_kineto
ops.load()
lib = torch.ops.minitorch_clf
bs = int(sys.argv[1]); prec = sys.argv[2] if len(sys.argv) > 2 else "bf16"
g = torch.Generator().manual_seed(0)
tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
ops.set_precision(prec)
_, (acts, weights, dzs) = tune.step_products(bs, MLPConfig().sizes)
x, y = acts[0], torch.randint(0, 10, (bs,), generator=g)
W = [w.clone() for w in weights]; B = [torch.zeros(w.shape[0]) for w in weights]
bufs = [torch.zeros_like(t) for p in zip(W, B) for t in p]
step = lambda: lib.mlp_sgd_step_(x, y, W, B, bufs, "relu", tune.STEP_LR, 0.9, 0.0, 0.0, False, False)
reps = max(10, 6400 // bs)
blocks = []
for _ in range(5):
    t0 = time.perf_counter()
    for _ in range(reps): step()
    blocks.append((time.perf_counter() - t0) / reps * 1e6)
quiet_kineto()
with profile(activities=[ProfilerActivity.CPU]) as prof:
    for _ in range(reps): step()
out = collections.defaultdict(float)
for e in prof.events():
    if e.name.startswith("backward:") and e.cpu_parent is not None:
        out[f"{e.cpu_parent.name.removeprefix('step: ')}/{e.name.removeprefix('backward: ')}"] += e.cpu_time_total / reps
    elif e.name.startswith("step:"):
        out[e.name.removeprefix("step: ")] += e.cpu_time_total / reps
addr = {f"W{i}": W[i].data_ptr() % 4096 for i in range(3)} | {f"buf{i}": bufs[i].data_ptr() % 4096 for i in range(6)}
print(f"{prec} batch {bs}: step blocks " + " ".join(f"{b:.0f}" for b in blocks) + " us | " +
      " ".join(f"{k} {v:.0f}" for k, v in sorted(out.items()) if v >= 1.0))
