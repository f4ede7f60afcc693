"""The one-call SGD step at one batch size on the derived plans, against the same plans with fc1's dW cut by rows (W's
update then rides on that product: train_step.cpp's rides_on_dweight) and by columns (the derived cut: a check of
the noise), 30 blocks in rotating order in one process.    python fc1_dw_rows.py BATCH"""
import statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.config import MLPConfig
from minitorch_clf.ops import tune
from minitorch_clf.ops.tune import Plan, Shape
ops.load()
bs = int(sys.argv[1])
products, (acts, weights, _) = tune.step_products(bs, MLPConfig().sizes)
shapes = {name: Shape.of(a, b) for name, a, b in products}
derived = {s: tune.derived_plan(s) for s in shapes.values()}
target = shapes["fc1 dW = dzᵀ·x"]
print("fc1 dW derived:", derived[target])
variants = {"derived": dict(derived)}
for split in ("rows", "columns"):
    v = dict(derived); p = derived[target]
    v[target] = Plan(p.isa, p.kernel, p.k_block, 2, split); variants[f"fc1 dW {split}"] = v
step = tune.sgd_step(acts, weights)
lib = torch.ops.minitorch_clf
def install(plans):
    lib.set_gemm_plans([x for s, p in plans.items() for x in s.ints() + p.ints()])
reps = max(10, 6400 // bs)
t = {k: [] for k in variants}
if True:
    for block in range(30):
        keys = list(variants)
        keys = keys[block % len(keys):] + keys[:block % len(keys)]
        for k in keys:
            install(variants[k])
            for _ in range(3): step()
            t0 = time.perf_counter()
            for _ in range(reps): step()
            t[k].append((time.perf_counter() - t0) / reps * 1e6)
base = t["derived"]
for k, v in t.items():
    print(f"{k:18s} {statistics.median(v):8.1f} us  ratio to derived {statistics.median(a / b for a, b in zip(v, base)):.3f}")
