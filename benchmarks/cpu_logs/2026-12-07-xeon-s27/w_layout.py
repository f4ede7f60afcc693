"""fc1's forward x·Wᵀ through ops.own_mm, B = W.t() (packed by 16 x 16 transposes every call) against a Wᵀ stored
by rows, 512 bytes apart (contiguous) and 576 bytes apart; the same bits checked; 15 rounds in turns, medians (range),
us.    PYTHONPATH=. python benchmarks/cpu_logs/2026-12-07-xeon-s27/w_layout.py"""
import torch, time, statistics, sys
from minitorch_clf import ops
ops.load()
lib = torch.ops.minitorch_clf
torch.manual_seed(0)
for n in (64, 256, 1024):
    x = torch.randn(n, 784); W = torch.randn(128, 784) * 0.05
    Wt = W.t().contiguous()
    Wp = torch.empty(784, 144)[:, :128]; Wp.copy_(Wt)
    forms = {"W.t()": lambda: lib.own_mm(x, W.t()), "Wt 512B": lambda: lib.own_mm(x, Wt), "Wt 576B": lambda: lib.own_mm(x, Wp)}
    ref = lib.own_mm(x, W.t())
    for k, f in forms.items():
        if not torch.equal(f(), ref): print("bits differ", k)
    res = {k: [] for k in forms}
    for r in range(15):
        for k, f in forms.items():
            for _ in range(20): f()
            t = time.perf_counter()
            for _ in range(200): f()
            res[k].append((time.perf_counter() - t) / 200 * 1e6)
    print(n, {k: f"{statistics.median(v):.1f} ({min(v):.1f}-{max(v):.1f})" for k, v in res.items()}, flush=True)
