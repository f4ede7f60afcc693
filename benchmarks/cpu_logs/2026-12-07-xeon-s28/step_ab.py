"""The one-call SGD step (and the epoch op per step) with a build switch in turns: medians, paired ratios.
    python step_ab.py VAR VALUES BATCHES [ROUNDS]"""
import os, random, statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
from minitorch_clf.config import MLPConfig
ops.load()
lib = torch.ops.minitorch_clf
var, values = sys.argv[1], sys.argv[2].split(",")
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 30
g = torch.Generator().manual_seed(0); rng = random.Random(2)
X = torch.rand(60000, 784, generator=g); Y = torch.randint(0, 10, (60000,), generator=g)
for bs in map(int, sys.argv[3].split(",")):
    tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
    _, (acts, weights, dzs) = tune.step_products(bs, MLPConfig().sizes)
    x, y = acts[0], torch.randint(0, 10, (bs,), generator=g)
    W = [w.clone() for w in weights]; B = [torch.zeros(w.shape[0]) for w in weights]
    bufs = [torch.zeros_like(t) for p in zip(W, B) for t in p]
    step = lambda: lib.mlp_sgd_step_(x, y, W, B, bufs, "relu", 1e-4, 0.9, 0.0, 0.0, False, False)
    order = torch.randperm(60000, generator=g)[:max(6400, 8 * bs)]
    epoch = lambda: lib.mlp_sgd_epoch_(X, Y, order, bs, False, W, B, bufs, "relu", 1e-4, 0.9, 0.0, 0.0, False, False)
    work = {"step": (step, max(10, 6400 // bs), 1), "epoch per step": (epoch, 1, len(order) / bs)}
    t = {(w, v): [] for w in work for v in values}
    for r in range(rounds):
        vs = list(values); rng.shuffle(vs)
        for v in vs:
            os.environ.pop(var, None)
            if v != "-": os.environ[var] = v
            for w, (f, reps, per) in work.items():
                f(); t0 = time.perf_counter()
                for _ in range(reps): f()
                t[w, v].append((time.perf_counter() - t0) / reps / per * 1e6)
    os.environ.pop(var, None)
    for w in work:
        base = t[w, values[0]]
        print(f"batch {bs:5d} {w:15s} " + "  ".join(f"{v}: {statistics.median(t[w, v]):8.1f} (paired {statistics.median([a / b for a, b in zip(t[w, v], base)]):.3f})" for v in values), flush=True)
