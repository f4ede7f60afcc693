"""The one-call SGD step (bench's step operands, tuned plans) with A's panels packed as on main (tile by tile) or
k row by k row where A's columns are contiguous (dzᵀ in the dW products; PACK_K_OUTER=1 of pack_orders.patch),
alternating blocks in one process; first checks that the two give the same loss and weights.
    git apply pack_orders.patch; python pack_a_step_ab.py BATCH ..."""
import os, statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.config import MLPConfig
from minitorch_clf.ops import tune
ops.load()
MODES = {"now": "0", "A k-outer": "1"}
def set_mode(m):
    os.environ["PACK_K_OUTER"] = MODES[m]
for bs in (int(a) for a in sys.argv[1:]):
    tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
    _, (acts, weights, _) = tune.step_products(bs, MLPConfig().sizes)
    args = tune.sgd_step(acts, weights).args
    direct = ops.direct().sgd_step
    st = [t.clone() for t in args[2]] + [t.clone() for t in args[4]]
    outs = {}
    for m in MODES:
        for t, s in zip(list(args[2]) + list(args[4]), st): t.copy_(s)
        set_mode(m)
        l = direct(*args); outs[m] = (l.clone(), [t.clone() for t in args[2]])
    same = all(torch.equal(outs["now"][0], outs[m][0]) and all(torch.equal(a, b) for a, b in zip(outs["now"][1], outs[m][1])) for m in MODES)
    reps = max(20, 6_400 // bs)
    t = {m: [] for m in MODES}
    for m in MODES:
        set_mode(m)
        for _ in range(reps): direct(*args)
    order = list(MODES)
    for block in range(30):
        for m in (order if block % 2 else order[::-1]):
            set_mode(m)
            t0 = time.perf_counter()
            for _ in range(reps): direct(*args)
            t[m].append((time.perf_counter() - t0) / reps * 1e6)
    base = t["now"]
    parts = [f"{m} {statistics.median(v):.1f} us ({statistics.median(b / a for a, b in zip(base, v)):.3f})" for m, v in t.items()]
    print(f"batch {bs}: " + ", ".join(parts) + f", same bits {same}", flush=True)
