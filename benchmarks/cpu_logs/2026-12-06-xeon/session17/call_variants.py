"""The one-call SGD step (bench's step-row operands, tuned plans) four ways in one process, the order rotating by block
(24 blocks): the op inside torch._C._AutoDispatchBelowAutograd() (the fused engine's call before this session), the op
without it, its OpOverload .default, and ops.direct().sgd_step. Prints the medians per step.
    python call_variants.py BATCH"""
import statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.config import MLPConfig
from minitorch_clf.ops import tune
ops.load()
bs = int(sys.argv[1])
tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
_, (acts, weights, _) = tune.step_products(bs, MLPConfig().sizes)
args = tune.sgd_step(acts, weights).args
op, direct = torch.ops.minitorch_clf.mlp_sgd_step_, ops.direct().sgd_step
opdef = op.default
def guarded():
    with torch._C._AutoDispatchBelowAutograd():
        return op(*args)
calls = {"op+guard": guarded, "op": lambda: op(*args), "op.default": lambda: opdef(*args), "direct": lambda: direct(*args)}
reps = max(20, 6400 // bs)
t = {k: [] for k in calls}
for f in calls.values():
    for _ in range(reps): f()
for block in range(24):
    order = list(calls)[block % 4:] + list(calls)[:block % 4]
    for k in order:
        t0 = time.perf_counter()
        for _ in range(reps): calls[k]()
        t[k].append((time.perf_counter() - t0) / reps * 1e6)
print(bs, {k: round(statistics.median(v), 1) for k, v in t.items()})
