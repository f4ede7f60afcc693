"""What the tuner would choose if its races timed the epoch op (batches gathered from 60,000 rows, the next one
beside the step) instead of the step on one resident batch, and whether those plans make the epoch faster: tune.search
runs with its `step` replaced by an epoch of STEPS steps (nothing written to the tuning cache), then the epoch op and
the step on the step-raced plans (the cache's, tune.ensure) and on the epoch-raced ones, in shuffled turns.
    python race_on_epoch.py BATCH [ROUNDS] [STEPS]"""
import functools, random, statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
from minitorch_clf.config import MLPConfig
ops.load()
lib = torch.ops.minitorch_clf
bs = int(sys.argv[1]); rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 12
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 16
sizes = MLPConfig().sizes
g = torch.Generator().manual_seed(0)
X = torch.rand(60000, 784, generator=g); Y = torch.randint(0, 10, (60000,), generator=g)

def epoch_work(acts, weights):
    W = [w.clone() for w in weights]; B = [torch.zeros(w.shape[0]) for w in weights]
    bufs = [torch.zeros_like(p) for w, b in zip(W, B) for p in (w, b)]
    gen = torch.Generator().manual_seed(1)
    def run():
        order = torch.randint(0, 60000, (steps * bs,), generator=gen)
        lib.mlp_sgd_epoch_(X, Y, order, bs, False, W, B, bufs, "relu", tune.STEP_LR, 0.9, 0.0, 0.0, False, False)
    return run

tune.ensure(bs, sizes, log=print)
step_raced = {shape: tune.plan_in_force(shape)[0] for _, shape in tune.step_shapes(bs, sizes)}
original = tune.sgd_step
tune.sgd_step = epoch_work                      # search() races whatever sgd_step returns
try:
    result = tune.search(bs, sizes, full=False)
finally:
    tune.sgd_step = original
epoch_raced = {shape: plan for _, shape, plan, _ in result.products}
for (name, shape) in tune.step_shapes(bs, sizes):
    mark = "" if step_raced[shape] == epoch_raced[shape] else "   <- differs"
    print(f"{name:16s} step-raced {str(step_raced[shape]):28s} epoch-raced {str(epoch_raced[shape]):28s}{mark}")
_, (acts, weights, _) = tune.step_products(bs, sizes)
work = {"epoch per step": epoch_work(acts, weights), "step": original(acts, weights)}
tables = {"step-raced": step_raced, "epoch-raced": epoch_raced}
rows = {k: [v for s, p in t.items() for v in s.ints() + p.ints()] for k, t in tables.items()}
t = {(w, k): [] for w in work for k in tables}
rng = random.Random(1)
for r in range(rounds):
    ks = list(tables); rng.shuffle(ks)
    for k in ks:
        lib.set_gemm_plans(rows[k])
        for w, f in work.items():
            n = 1 if w.startswith("epoch") else 40
            f()
            t0 = time.perf_counter()
            for _ in range(n): f()
            t[w, k].append((time.perf_counter() - t0) / n / (steps if w.startswith("epoch") else 1) * 1e6)
tune._reinstall()
for w in work:
    a, b = statistics.median(t[w, "step-raced"]), statistics.median(t[w, "epoch-raced"])
    print(f"batch {bs} {w:15s} step-raced {a:8.1f} us  epoch-raced {b:8.1f} us  (epoch-raced / step-raced {b / a:.3f})")
