import torch, time, statistics, sys
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load()
sizes = (784, 128, 64, 10)
_, (acts, weights, _) = tune.step_products(64, sizes)
import json, os
rows = []
for sh, p in json.load(open(os.environ["PLANS"]))["64"]:
    rows += sh + p[:5]
torch.ops.minitorch_clf.set_gemm_plans(rows)
ws = [w.clone() for w in weights]; bs = [torch.zeros(w.shape[0]) for w in ws]
bufs = [torch.zeros_like(p) for w, b in zip(ws, bs) for p in (w, b)]
S = 60000
g = torch.Generator().manual_seed(0)
X = torch.randn(S, 784, generator=g); Y = torch.randint(0, 10, (S,), generator=g)
ep = torch.ops.minitorch_clf.mlp_sgd_epoch_.default
ts = []
for i in range(8):
    order = torch.randperm(S, generator=g)
    t0 = time.perf_counter(); ep(X, Y, order, 64, False, ws, bs, bufs, "relu", 1e-6, 0.9, 0.0, 0.0, False, False)
    ts.append(time.perf_counter() - t0)
print(sys.argv[1], f"median {statistics.median(ts)*1e3:.1f} ms", [round(t*1e3, 1) for t in ts])
