import torch, time, statistics
from minitorch_clf import ops
ops.load()
sizes = (4, 4, 4, 2)
ws = [torch.randn(o, i) for i, o in zip(sizes[:-1], sizes[1:])]
bs = [torch.zeros(o) for o in sizes[1:]]
bufs = [torch.zeros_like(p) for w, b in zip(ws, bs) for p in (w, b)]
S = 5000
X = torch.randn(S, 4); Y = torch.zeros(S, dtype=torch.long); order = torch.arange(S)
ep = torch.ops.minitorch_clf.mlp_sgd_epoch_.default
st = torch.ops.minitorch_clf.mlp_sgd_step_.default
x, y = X[:1], Y[:1]
for r in range(3):
    t0 = time.perf_counter(); ep(X, Y, order, 1, False, ws, bs, bufs, "relu", 1e-6, 0.9, 0.0, 0.0, False, False)
    e = (time.perf_counter() - t0) / S * 1e6
    t0 = time.perf_counter()
    for _ in range(S): st(x, y, ws, bs, bufs, "relu", 1e-6, 0.9, 0.0, 0.0, False, False)
    s = (time.perf_counter() - t0) / S * 1e6
    print(f"per step: epoch op {e:.2f} us, step op from Python {s:.2f} us")
