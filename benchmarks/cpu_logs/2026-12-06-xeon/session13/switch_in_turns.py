"""A switch of the build under test (an environment variable read at each call, `VAR=1`: off) timed in shuffled turns
in one process, one cache of tuned plans: fc1's two products alone (ops.own_mm from Python), the one-call SGD step
and the epoch op over rows drawn from 60,000. Medians over the rounds, us.
    python switch_in_turns.py VAR BATCHES [ROUNDS]
With SWITCH_ON_WHEN_SET=1 the other way round: VAR=1 is "on" (a switch that turns a change on)."""
import os, random, statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
from minitorch_clf.config import MLPConfig
from minitorch_clf.tools.bench_gemm import step_products
ops.load()
lib = torch.ops.minitorch_clf
var = sys.argv[1]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 12
g = torch.Generator().manual_seed(0)
X = torch.rand(60000, 784, generator=g); Y = torch.randint(0, 10, (60000,), generator=g)
modes = {"off": {var: "1"}, "on": {}} if not os.environ.get("SWITCH_ON_WHEN_SET") else {"off": {}, "on": {var: "1"}}
rng = random.Random(1)
med = statistics.median
print(f"{var}: {torch.get_num_threads()} threads, {rounds} rounds", flush=True)
for bs in map(int, sys.argv[2].split(",")):
    tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
    _, (acts, weights, dzs) = step_products(bs)
    x, y = acts[0], torch.randint(0, 10, (bs,), generator=g)
    W = [w.clone() for w in weights]; B = [torch.zeros(w.shape[0]) for w in weights]
    bufs = [torch.zeros_like(t) for p in zip(W, B) for t in p]
    step = lambda: lib.mlp_sgd_step_(x, y, W, B, bufs, "relu", 1e-4, 0.9, 0.0, 0.0, False, False)
    order = torch.randperm(60000, generator=g)[:max(6400, 8 * bs)]
    epoch = lambda: lib.mlp_sgd_epoch_(X, Y, order, bs, False, W, B, bufs, "relu", 1e-4, 0.9, 0.0, 0.0, False, False)
    xs = X[torch.randperm(60000, generator=g)[:bs]].contiguous()
    work = {"fc1 y": lambda: ops.own_mm(xs, weights[0].t()), "fc1 dW": lambda: ops.own_mm(dzs[0].t(), xs),
            "step": step, "epoch per step": epoch}
    reps = {"fc1 y": max(10, 6400 // bs), "fc1 dW": max(10, 6400 // bs), "step": max(10, 3200 // bs),
            "epoch per step": 1}
    per = {"epoch per step": len(order) / bs}
    t = {(w, m): [] for w in work for m in modes}
    for r in range(rounds):
        ms = list(modes); rng.shuffle(ms)
        for m in ms:
            os.environ.pop(var, None); os.environ.update(modes[m])
            for w, f in work.items():
                f()
                t0 = time.perf_counter()
                for _ in range(reps[w]): f()
                t[w, m].append((time.perf_counter() - t0) / reps[w] / per.get(w, 1) * 1e6)
    print(f"batch {bs}: " + "; ".join(f"{w} off {med(t[w, 'off']):.1f} on {med(t[w, 'on']):.1f} "
                                        f"(on/off {med(t[w, 'on']) / med(t[w, 'off']):.3f})" for w in work), flush=True)
