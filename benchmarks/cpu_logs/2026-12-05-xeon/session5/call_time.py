import torch, time, statistics
from minitorch_clf import ops
ops.load()
torch.set_num_threads(2)
sizes = (4, 4, 4, 2)
ws = [torch.randn(o, i) for i, o in zip(sizes[:-1], sizes[1:])]
bs = [torch.zeros(o) for o in sizes[1:]]
bufs = [torch.zeros_like(p) for w, b in zip(ws, bs) for p in (w, b)]
x = torch.randn(1, 4); y = torch.zeros(1, dtype=torch.long)
f = torch.ops.minitorch_clf.mlp_sgd_step_
op = torch.ops.minitorch_clf.mlp_sgd_step_.default
for name, g in [("torch.ops overload packet", f), ("default overload", op)]:
    v = []
    for r in range(9):
        for _ in range(100): g(x, y, ws, bs, bufs, "relu", 1e-6, 0.9, 0.0, 0.0, False, False)
        t0 = time.perf_counter()
        for _ in range(5000): g(x, y, ws, bs, bufs, "relu", 1e-6, 0.9, 0.0, 0.0, False, False)
        v.append((time.perf_counter() - t0) / 5000 * 1e6)
    print(f"{name}: {statistics.median(v):.2f} us per step of a 4-4-4-2 MLP at batch 1")
