"""bf16 (ops.set_precision('bf16'), on the CPU's bf16 kernel) with a build switch in turns: fc1's two products
through ops.own_mm (or all eight with ALL=1), the eight in one call, and the one-call SGD step; medians and the
median of each round's ratio to the first value; EPOCH=1 adds the epoch op (8 batches a call), per step.
    python bf16_ab.py VAR VALUES BATCHES [ROUNDS]
VAR may name several variables, A+B, each value then one per variable, 64/1 ('_' leaves one unset)."""
import os, random, statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
from minitorch_clf.config import MLPConfig
ops.load()
lib = torch.ops.minitorch_clf
var, values = sys.argv[1], sys.argv[2].split(",")
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 30
g = torch.Generator().manual_seed(0); rng = random.Random(3)
for bs in map(int, sys.argv[3].split(",")):
    ops.set_precision("float32")
    tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
    ops.set_precision("bf16")
    products, (acts, weights, dzs) = tune.step_products(bs, MLPConfig().sizes)
    x, y = acts[0], torch.randint(0, 10, (bs,), generator=g)
    W = [w.clone() for w in weights]; B = [torch.zeros(w.shape[0]) for w in weights]
    bufs = [torch.zeros_like(t) for p in zip(W, B) for t in p]
    step = lambda: lib.mlp_sgd_step_(x, y, W, B, bufs, "relu", tune.STEP_LR, 0.9, 0.0, 0.0, False, False)
    chosen = products if os.environ.get("ALL") else (products[0], products[3])
    work = {name: (lambda a=a, b=b: ops.own_mm(a, b)) for name, a, b in chosen}
    work["all eight"] = lambda: ops.mlp_products(acts, weights, dzs, "own")
    work["the step"] = step
    if os.environ.get("EPOCH"):                    # EPOCH=1: the epoch op too, its time per step
        X = torch.rand(8 * bs, 784, generator=g); Y = torch.randint(0, 10, (8 * bs,), generator=g)
        order = torch.randperm(8 * bs, generator=g)
        epoch = lambda: lib.mlp_sgd_epoch_(X, Y, order, bs, False, W, B, bufs, "relu", tune.STEP_LR, 0.9, 0.0, 0.0,
                                           False, False)
        work["the epoch op, per step"] = lambda: [epoch() for _ in range(1)]
    reps = max(10, 6400 // bs)
    t = {(w, v): [] for w in work for v in values}
    for r in range(rounds):
        vs = list(values); rng.shuffle(vs)
        for v in vs:
            for name in var.split("+"): os.environ.pop(name, None)
            if v != "-":                         # VAR=A+B takes values like 64/1: A=64, B=1 ('_': unset)
                for name, val in zip(var.split("+"), v.split("/")):
                    if val != "_": os.environ[name] = val
            for w, f in work.items():
                n, per = (max(1, reps // 8), 8) if w.startswith("the epoch") else (reps, 1)
                f(); t0 = time.perf_counter()
                for _ in range(n): f()
                t[w, v].append((time.perf_counter() - t0) / n / per * 1e6)
    for name in var.split("+"): os.environ.pop(name, None)
    for w in work:
        base = t[w, values[0]]
        print(f"batch {bs:5d} {w:22s} " + "  ".join(f"{v}: {statistics.median(t[w, v]):8.1f} (paired {statistics.median([a / b for a, b in zip(t[w, v], base)]):.3f})" for v in values), flush=True)
    ops.set_precision("float32")
