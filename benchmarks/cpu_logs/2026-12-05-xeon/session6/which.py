import sys, time, statistics, os, json, random
import torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load()
L = torch.ops.minitorch_clf
SIZES = (784, 128, 64, 10)
old = json.load(open(os.path.join(os.path.dirname(__file__), "old_plans.json"))); new = json.load(open(os.path.join(os.path.dirname(__file__), "new_plans.json")))
bs = int(sys.argv[1])
o, nw = old[str(bs)], new[str(bs)]
variants = {"old": o, "new": nw}
for i in range(len(o)):
    if o[i][1][:5] != nw[i][1][:5]:
        v = list(o); v[i] = nw[i]; variants[f"old+new[{i}] {nw[i][0]} {o[i][1][:5]}->{nw[i][1][:5]}"] = v
def install(pl):
    rows = []
    for sh, p in pl: rows += sh + p[:5]
    L.set_gemm_plans(rows)
_, (acts, weights, _) = tune.step_products(bs, SIZES)
step = tune.sgd_step(acts, weights)
n = max(20, 10000 // bs)
times = {k: [] for k in variants}
for r in range(7):
    keys = list(variants); random.shuffle(keys)
    for k in keys:
        install(variants[k])
        for _ in range(n // 4): step()
        t = time.perf_counter()
        for _ in range(n): step()
        times[k].append((time.perf_counter() - t) / n * 1e6)
base = statistics.median(times["old"])
for k, ts in times.items():
    print(f"{statistics.median(ts):8.1f} us  {statistics.median(ts)/base:5.3f}  {k}")
