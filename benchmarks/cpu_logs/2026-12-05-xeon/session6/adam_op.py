import time, statistics, random, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load()
L = torch.ops.minitorch_clf
bs = 64
tune.ensure(bs, (784, 128, 64, 10))
_, (acts, weights, _) = tune.step_products(bs, (784, 128, 64, 10))
ws = [w.clone() for w in weights]; bs_ = [torch.zeros(w.shape[0]) for w in ws]
params = [t for p in zip(ws, bs_) for t in p]
bufs = [torch.zeros_like(p) for p in params]
m = [torch.zeros_like(p) for p in params]; v = [torch.zeros_like(p) for p in params]
steps = [torch.zeros(()) for p in params]
x = acts[0]; y = torch.randint(0, 10, (bs,))
grads = [torch.randn_like(p) for p in params]
calls = {
  "sgd step": lambda: L.mlp_sgd_step_(x, y, ws, bs_, bufs, "relu", 1e-7, 0.9, 0.0, 0.0, False, False),
  "adam step": lambda: L.mlp_adam_step_(x, y, ws, bs_, steps, m, v, [], "relu", 1e-7, 0.9, 0.999, 1e-8, 0.0, False, False, False),
  "sgd update": lambda: L.sgd_update_(params, grads, bufs, 1e-7, 0.9, 0.0, 0.0, False, False, False),
  "adam update": lambda: L.adam_update_(params, grads, m, v, [], [1e-7]*6, [1.0]*6, 1e-7, 0.9, 0.999, 1e-8, 0.0, False, False, False),
}
n = 300
ts = {k: [] for k in calls}
for f in calls.values():
    for _ in range(n): f()
for r in range(9):
    ks = list(calls); random.shuffle(ks)
    for k in ks:
        t = time.perf_counter()
        for _ in range(n): calls[k]()
        ts[k].append((time.perf_counter() - t) / n * 1e6)
print(" | ".join(f"{k} {statistics.median(v):.1f} us" for k, v in ts.items()))
