"""The one-call SGD step (bench's step operands, tuned plans) in five modes, alternating blocks in one process:
  now   the rule of rides_on_dweight (RIDE_COLS=0, PF_NEXT=0)
  cols  the update rides wherever the dW product runs on the pass's threads, whatever its cut (RIDE_COLS=1)
  pf    cols, and each ride then asks for the next block's W and momentum lines (PF_NEXT=1: prefetchw-style hint;
        PF_NEXT=2, "pft1": prefetcht1)
  noop  cols with the riding update doing nothing (PF_NEXT=9): what the step costs without fc1's update, a bound
Needs ride_pf.patch (the experiment's switches in optimizer.cpp and train_step.cpp); ride_pf_1.log ran the first
three modes only. First checks that the modes give the
same loss and weights.   python ride_pf_ab.py BATCH ..."""
import os, statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.config import MLPConfig
from minitorch_clf.ops import tune
ops.load()
MODES = {"now": ("0", "0"), "cols": ("1", "0"), "pf": ("1", "1"), "pft1": ("1", "2"), "noop": ("1", "9")}
def set_mode(m):
    os.environ["RIDE_COLS"], os.environ["PF_NEXT"] = MODES[m]
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
    same = all(torch.equal(outs["now"][0], outs[m][0]) and all(torch.equal(a, b) for a, b in zip(outs["now"][1], outs[m][1])) for m in MODES if m != "noop")
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
