"""The one-call SGD step (bench's step operands, tuned plans) with each weight's update riding on its dW product
whatever that product's cut (RIDE_ANY=1) or as rides_on_dweight allows (RIDE_ANY=0), alternating blocks in one
process; first checks that the two give the same loss and weights. Needs ride_any.patch applied (it reads RIDE_ANY in
train_step.cpp's rides_on_dweight); `git checkout kernels/cpu/train_step.cpp` removes it.
    git apply benchmarks/cpu_logs/2026-12-06-xeon/session18/ride_any.patch && python ride_ab.py BATCH ..."""
import os, statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.config import MLPConfig
from minitorch_clf.ops import tune
ops.load()
for bs in (int(a) for a in sys.argv[1:]):
    tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
    _, (acts, weights, _) = tune.step_products(bs, MLPConfig().sizes)
    args = tune.sgd_step(acts, weights).args
    direct = ops.direct().sgd_step
    # bits: the two modes from the same state
    st = [t.clone() for t in args[2]] + [t.clone() for t in args[4]]
    outs = {}
    for mode in ("0", "1"):
        for t, s in zip(list(args[2]) + list(args[4]), st): t.copy_(s)
        os.environ["RIDE_ANY"] = mode
        l = direct(*args); outs[mode] = (l.clone(), [t.clone() for t in args[2]])
    same = torch.equal(outs["0"][0], outs["1"][0]) and all(torch.equal(a, b) for a, b in zip(outs["0"][1], outs["1"][1]))
    reps = max(20, 6_400 // bs)
    t = {"0": [], "1": []}
    for m in ("0", "1"):
        os.environ["RIDE_ANY"] = m
        for _ in range(reps): direct(*args)
    for block in range(30):
        for m in (("0", "1") if block % 2 else ("1", "0")):
            os.environ["RIDE_ANY"] = m
            t0 = time.perf_counter()
            for _ in range(reps): direct(*args)
            t[m].append((time.perf_counter() - t0) / reps * 1e6)
    r = statistics.median(b / a for a, b in zip(t["0"], t["1"]))
    print(f"batch {bs}: now {statistics.median(t['0']):.1f} us, ride any {statistics.median(t['1']):.1f} us, ratio {r:.3f}, same bits {same}", flush=True)
