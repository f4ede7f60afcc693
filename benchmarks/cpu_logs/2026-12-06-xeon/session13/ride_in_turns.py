"""The whole SGD/Adam step and epoch with each weight's update made in its dW product (ride) and as a pass of its
own after the backward (pass: MCLF_NORIDE, a switch of the build under test), shuffled turns in one process, one
cache of tuned plans. Medians over the rounds, us per step.   python ride_in_turns.py BATCHES [sgd|adam] [ROUNDS]"""
import os, random, statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
from minitorch_clf.config import MLPConfig
from minitorch_clf.tools.bench_gemm import step_products
ops.load()
lib = torch.ops.minitorch_clf
g = torch.Generator().manual_seed(0)
X = torch.rand(60000, 784, generator=g); Y = torch.randint(0, 10, (60000,), generator=g)
opt = sys.argv[2] if len(sys.argv) > 2 else "sgd"
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 12
modes = {"pass": {"MCLF_NORIDE": "1"}, "ride": {}}
rng = random.Random(1)
print(f"{torch.get_num_threads()} threads, {opt}, {rounds} rounds", flush=True)
for bs in map(int, sys.argv[1].split(",")):
    tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
    _, (acts, weights, dzs) = step_products(bs)
    x, y = acts[0], torch.randint(0, 10, (bs,), generator=g)
    W = [w.clone() for w in weights]; B = [torch.zeros(w.shape[0]) for w in weights]
    params = [t for pair in zip(W, B) for t in pair]
    if opt == "sgd":
        bufs = [torch.zeros_like(p) for p in params]
        step = lambda: lib.mlp_sgd_step_(x, y, W, B, bufs, "relu", 1e-4, 0.9, 0.0, 0.0, False, False)
        epoch = lambda order: lib.mlp_sgd_epoch_(X, Y, order, bs, False, W, B, bufs, "relu", 1e-4, 0.9, 0.0, 0.0,
                                                 False, False)
    else:
        steps = [torch.zeros(()) for _ in params]
        m1 = [torch.zeros_like(p) for p in params]; m2 = [torch.zeros_like(p) for p in params]
        step = lambda: lib.mlp_adam_step_(x, y, W, B, steps, m1, m2, [], "relu", 1e-4, 0.9, 0.999, 1e-8, 0.0, False,
                                          False, False)
        epoch = lambda order: lib.mlp_adam_epoch_(X, Y, order, bs, False, W, B, steps, m1, m2, [], "relu", 1e-4, 0.9,
                                                  0.999, 1e-8, 0.0, False, False, False)
    order = torch.randperm(60000, generator=g)[:max(6400, 8 * bs)]
    n = max(20, 3200 // bs)
    st = {m: [] for m in modes}; et = {m: [] for m in modes}
    for r in range(rounds):
        ms = list(modes); rng.shuffle(ms)
        for m in ms:
            os.environ.pop("MCLF_NORIDE", None); os.environ.update(modes[m])
            step()
            t0 = time.perf_counter()
            for _ in range(n): step()
            st[m].append((time.perf_counter() - t0) / n * 1e6)
            t0 = time.perf_counter(); epoch(order); et[m].append((time.perf_counter() - t0) / (len(order) / bs) * 1e6)
    med = lambda v: statistics.median(v)
    print(f"batch {bs}: step " + ", ".join(f"{m} {med(v):.1f}" for m, v in st.items()) +
          f" (ride/pass {med(st['ride']) / med(st['pass']):.3f}) | epoch per step " +
          ", ".join(f"{m} {med(v):.1f}" for m, v in et.items()) +
          f" (ride/pass {med(et['ride']) / med(et['pass']):.3f})", flush=True)
