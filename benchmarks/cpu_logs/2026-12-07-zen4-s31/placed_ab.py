"""A build switch in turns, as cpu_logs/2026-12-07-zen4-s29/bf16_ab.py, each round tagged by where the VM's two
vCPUs sit: a cache line's round trip between CPU 0 and CPU 1 (pingpong.c) before and after the round, near (under
150 ns: one L3) or far (over 250 ns: two CCDs); a round whose two readings disagree is dropped. Per placement:
the medians and the median of each round's paired ratio to the first value.
    PREC=bf16|float32 python placed_ab.py VAR VALUES BATCHES SECONDS
VAR may name several variables, A+B, each value then one per variable ('_' leaves one unset, '-' all)."""
import collections, os, random, statistics, subprocess, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
from minitorch_clf.config import MLPConfig
ops.load()
lib = torch.ops.minitorch_clf
PP = "/tmp/pingpong_probe"
subprocess.run(["gcc", "-O2", "-pthread", os.path.join(os.path.dirname(os.path.abspath(__file__)), "pingpong.c"),
                "-o", PP], check=True)
rtt = lambda: float(subprocess.run([PP], capture_output=True, text=True, check=True).stdout)
place = lambda ns: "near" if ns < 150 else "far" if ns > 250 else None
var, values, seconds = sys.argv[1], sys.argv[2].split(","), float(sys.argv[4])
prec = os.environ.get("PREC", "bf16")
g = torch.Generator().manual_seed(0); rng = random.Random(3)
for bs in map(int, sys.argv[3].split(",")):
    ops.set_precision("float32")
    tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
    ops.set_precision(prec)
    tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
    products, (acts, weights, dzs) = tune.step_products(bs, MLPConfig().sizes)
    x, y = acts[0], torch.randint(0, 10, (bs,), generator=g)
    W = [w.clone() for w in weights]; B = [torch.zeros(w.shape[0]) for w in weights]
    bufs = [torch.zeros_like(t) for p in zip(W, B) for t in p]
    step = lambda: lib.mlp_sgd_step_(x, y, W, B, bufs, "relu", tune.STEP_LR, 0.9, 0.0, 0.0, False, False)
    reps = max(10, 3200 // bs)
    t = collections.defaultdict(list)            # (placement, value) -> [us], rounds aligned per placement
    t0 = time.time()
    while time.time() - t0 < seconds:
        a = place(rtt())
        vs = list(values); rng.shuffle(vs); got = {}
        for v in vs:
            for name in var.split("+"): os.environ.pop(name, None)
            if v != "-":
                for name, val in zip(var.split("+"), v.split("/")):
                    if val != "_": os.environ[name] = val
            step(); ts = []
            for _ in range(reps):
                s = time.perf_counter(); step(); ts.append((time.perf_counter() - s) * 1e6)
            got[v] = statistics.median(ts)
        for name in var.split("+"): os.environ.pop(name, None)
        b = place(rtt())
        if a and a == b:
            for v in values: t[a, v].append(got[v])
    for where in ("near", "far"):
        base = t[where, values[0]]
        if not base: continue
        print(f"{prec} batch {bs:5d} {where} ({len(base)} rounds) the step " + "  ".join(
            f"{v}: {statistics.median(t[where, v]):8.1f} (paired {statistics.median([p / q for p, q in zip(t[where, v], base)]):.3f})"
            for v in values), flush=True)
