import sys, time, statistics, torch, dataclasses
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load()
lib = torch.ops.minitorch_clf
def timeit(calls, rounds=400):
    s = {k: [] for k in calls}
    for _ in range(rounds):
        for k, f in calls.items():
            t0 = time.perf_counter(); f(); s[k].append(time.perf_counter() - t0)
    return {k: (min(v) * 1e6, statistics.median(v) * 1e6) for k, v in s.items()}
cases = [("fc1 fwd 64", 64, 784, 128, "x"), ("fc1 dW 64", 128, 64, 784, "dw"), ("fc1 fwd 1024", 1024, 784, 128, "x"), ("fc1 dW 1024", 128, 1024, 784, "dw"), ("fc1 fwd 256", 256, 784, 128, "x")]
for name, M, K, N, kind in cases:
    if kind == "x":
        a = torch.randn(M, K); b = torch.randn(N, K).t()
    else:
        a = torch.randn(K, M).t(); b = torch.randn(K, N)
    base = tune.derived_plan(tune.Shape.of(a, b))
    nb = max(1, round(K / base.k_block)); bal = -(-K // nb); bal = -(-bal // 4) * 4
    plans = {base.k_block: base, bal: dataclasses.replace(base, k_block=bal)}
    calls = {k: (lambda p=p: lib.own_mm_plan(a, b, p.ints())) for k, p in plans.items()}
    for _ in range(30):
        for f in calls.values(): f()
    for r in range(2):
        t = timeit(calls)
        print(name, base, " | ".join(f"k{k}: min {v[0]:.1f} med {v[1]:.1f}" for k, v in t.items()))
