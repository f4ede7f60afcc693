"""products_in_turns.py with the one-call SGD step and the epoch op only (the products alone do not read the
pairs that the step's rule decides): a setting of the build under test (an environment variable read at each call)
at several values, shuffled turns in one process, one cache of tuned plans. Medians over the rounds, us; ratios to
the first value. (session14's script; here PRECISION=bf16 in the environment runs every product in bf16, on the
bf16 kernel ops.bf16_kernels() names first.)
    python steps_in_turns.py VAR VALUES BATCHES [ROUNDS]        (VALUES comma-separated; "-" = unset)"""
import os, random, statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
from minitorch_clf.config import MLPConfig
ops.load()
lib = torch.ops.minitorch_clf
bf16 = os.environ.get("PRECISION") == "bf16"
if bf16:
    print("products in bf16 on", ops.bf16_kernels()[0])
var, values = sys.argv[1], sys.argv[2].split(",")
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 12
g = torch.Generator().manual_seed(0)
X = torch.rand(60000, 784, generator=g); Y = torch.randint(0, 10, (60000,), generator=g)
rng = random.Random(1)
med = statistics.median
print(f"{var} in {values}: {torch.get_num_threads()} threads, {rounds} rounds", flush=True)
for bs in map(int, sys.argv[3].split(",")):
    lib.set_precision("float32")
    tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)   # the float32 plans (the bf16 products' threads follow them)
    if bf16: lib.set_precision("bf16")
    _, (acts, weights, dzs) = tune.step_products(bs, MLPConfig().sizes)
    x, y = acts[0], torch.randint(0, 10, (bs,), generator=g)
    W = [w.clone() for w in weights]; B = [torch.zeros(w.shape[0]) for w in weights]
    bufs = [torch.zeros_like(t) for p in zip(W, B) for t in p]
    step = lambda: lib.mlp_sgd_step_(x, y, W, B, bufs, "relu", 1e-4, 0.9, 0.0, 0.0, False, False)
    order = torch.randperm(60000, generator=g)[:max(6400, 8 * bs)]
    epoch = lambda: lib.mlp_sgd_epoch_(X, Y, order, bs, False, W, B, bufs, "relu", 1e-4, 0.9, 0.0, 0.0, False, False)
    xs = X[torch.randperm(60000, generator=g)[:bs]].contiguous()
    work = {"step": step, "epoch per step": epoch}
    reps = {w: max(10, 3200 // bs) for w in work}
    reps["epoch per step"] = 1
    per = {"epoch per step": len(order) / bs}
    t = {(w, v): [] for w in work for v in values}
    for r in range(rounds):
        vs = list(values); rng.shuffle(vs)
        for v in vs:
            os.environ.pop(var, None)
            if v != "-": os.environ[var] = v
            for w, f in work.items():
                f()
                t0 = time.perf_counter()
                for _ in range(reps[w]): f()
                t[w, v].append((time.perf_counter() - t0) / reps[w] / per.get(w, 1) * 1e6)
    os.environ.pop(var, None)
    for w in work:
        base = med(t[w, values[0]])
        print(f"batch {bs:5d} {w:15s} " + "  ".join(f"{v}: {med(t[w, v]):8.1f} ({med(t[w, v]) / base:.3f})" for v in values), flush=True)
