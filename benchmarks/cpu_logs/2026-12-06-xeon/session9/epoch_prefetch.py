"""With epoch_prefetch.patch (MTC_PF=1 or 2: mlp_sgd_epoch_ prefetches the next batch's rows of x into L2/L3
before each step, prefetcht2 / prefetcht1): chunks of an epoch each way and resident steps, in turns, per step."""
import os, statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load(); lib = torch.ops.minitorch_clf
B = int(sys.argv[1]); SIZES = (784, 128, 64, 10)
tune.ensure(B, SIZES)
_, (acts, weights, _) = tune.step_products(B, SIZES)
step = tune.sgd_step(acts, weights)
x, y, W, Bi, bufs = step.args[:5]; tail = step.args[5:]
g = torch.Generator().manual_seed(0)
data = torch.rand(60000, 784, generator=g); target = torch.randint(0, 10, (60000,), generator=g)
order = torch.randperm(60000, generator=g)
S = max(10, 3200 // B)
pos = [0]
def chunk(mode):
    def f():
        os.environ["MTC_PF"] = mode
        k = pos[0]; pos[0] = (k + S * B) % (60000 - S * B)
        lib.mlp_sgd_epoch_(data, target, order[k:k + S * B], B, True, W, Bi, bufs, *tail)
    return f
def resident():
    for _ in range(S): step()
calls = {"epoch, no prefetch": chunk("0"), "epoch, prefetch T2": chunk("1"), "epoch, prefetch T1": chunk("2"), "resident steps": resident}
res = {k: [] for k in calls}
for r in range(11):
    for k, f in (list(calls.items()) if r % 2 else list(calls.items())[::-1]):
        t0 = time.perf_counter(); f(); res[k].append((time.perf_counter() - t0) / S * 1e6)
for k, v in res.items(): print(f"batch {B} {k:20s} {statistics.median(v):7.1f} us/step ({min(v):.1f}-{max(v):.1f})")
