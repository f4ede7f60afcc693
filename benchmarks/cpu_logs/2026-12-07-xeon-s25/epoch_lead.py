"""With a_lead.patch: chunks of an epoch (mlp_sgd_epoch_, S steps over rows drawn from 60,000) with A_LEAD = 0, 1,
2, and resident steps (one batch, bench's step), in turns in one process; per step, medians of 11 rounds and the
median of each round's ratio to A_LEAD=0.   python epoch_lead.py B   (after the ninth session's epoch_prefetch.py)"""
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
def chunk(lead):
    def f():
        os.environ["A_LEAD"] = lead
        k = pos[0]; pos[0] = (k + S * B) % (60000 - S * B)
        lib.mlp_sgd_epoch_(data, target, order[k:k + S * B], B, True, W, Bi, bufs, *tail)
    return f
def resident(lead):
    def f():
        os.environ["A_LEAD"] = lead
        for _ in range(S): step()
    return f
calls = {"epoch, lead 0": chunk("0"), "epoch, lead 1": chunk("1"), "epoch, lead 2": chunk("2"),
         "resident, lead 0": resident("0"), "resident, lead 1": resident("1"), "resident, lead 2": resident("2")}
res = {k: [] for k in calls}
for r in range(11):
    for k, f in (list(calls.items()) if r % 2 else list(calls.items())[::-1]):
        t0 = time.perf_counter(); f(); res[k].append((time.perf_counter() - t0) / S * 1e6)
for k, v in res.items():
    base = res[k.split(", lead")[0] + ", lead 0"]
    ratio = statistics.median(a / b for a, b in zip(v, base))
    print(f"batch {B} {k:18s} {statistics.median(v):7.1f} us/step ({min(v):.1f}-{max(v):.1f})  / lead 0: {ratio:.3f}")
