"""The one-call SGD step with the riding update's rows of a 32-column block run by a loop of a fixed count (SGD_FIXED=1
of sgd_fixed.patch: two zmm vectors a row, no loop set up per row) or as on main, alternating blocks in one
process; first checks the bits.   git apply sgd_fixed.patch; python sgd_fixed_ab.py BATCH ..."""
import os, statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.config import MLPConfig
from minitorch_clf.ops import tune
ops.load()
MODES = {"now": "0", "fixed 32": "1"}
def set_mode(m):
    os.environ["SGD_FIXED"] = MODES[m]
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
