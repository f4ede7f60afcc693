"""fc1's dW (own_mm, tuned plan) with a build switch in turns: 40 rounds, medians and per-round ratio median."""
import os, random, statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
from minitorch_clf.config import MLPConfig
ops.load()
var, values, bss = sys.argv[1], sys.argv[2].split(","), map(int, sys.argv[3].split(","))
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 40
g = torch.Generator().manual_seed(0); rng = random.Random(1)
for bs in bss:
    tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
    _, (acts, weights, dzs) = tune.step_products(bs, MLPConfig().sizes)
    xs = torch.rand(bs, 784, generator=g)
    f = lambda: ops.own_mm(dzs[0].t(), xs)
    reps = max(10, 6400 // bs)
    t = {v: [] for v in values}
    for r in range(rounds):
        vs = list(values); rng.shuffle(vs)
        for v in vs:
            os.environ.pop(var, None)
            if v != "-": os.environ[var] = v
            f(); t0 = time.perf_counter()
            for _ in range(reps): f()
            t[v].append((time.perf_counter() - t0) / reps * 1e6)
    os.environ.pop(var, None)
    base = t[values[0]]
    print(f"batch {bs}: " + "  ".join(f"{v}: {statistics.median(t[v]):.1f} us (paired {statistics.median([a / b for a, b in zip(t[v], base)]):.3f})" for v in values), flush=True)
