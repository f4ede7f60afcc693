"""fc1's forward y = x·Wᵀ on M rows of x, and its dW = dzᵀ·x at K rows, on one thread (own_mm_plan, AVX-512 outer kernel,
k block 192, cut by rows), in turns in one process: how the kernel's rate moves with the shape.   python y_rows.py"""
import statistics, sys, time, torch
from minitorch_clf import ops
ops.load()
lib = torch.ops.minitorch_clf
torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
x = torch.randn(1024, 784, generator=g); W = torch.randn(128, 784, generator=g); dz = torch.randn(1024, 128, generator=g)
cases = {}
for M in (128, 256, 512, 1024):
    cases[f"y M={M} (B panel reuse {M//8})"] = (x[:M], W.t(), 2*M*784*128)
for K in (256, 1024):
    cases[f"dW K={K} (B panel reuse 16)"] = (dz[:K].t(), x[:K], 2*128*784*K)
cases["W·Wt: 128x784 · 784x128 (A rows, B packed)"] = (W, W.t(), 2*128*128*784)
reps = 20; t = {n: [] for n in cases}
for rnd in range(11):
    for n in (list(cases) if rnd % 2 else list(cases)[::-1]):
        a, b, f = cases[n]
        t0 = time.perf_counter()
        for _ in range(reps): lib.own_mm_plan(a, b, [1,1,192,1,1])
        t[n].append((time.perf_counter() - t0) / reps)
for n, v in t.items():
    m = statistics.median(v); print(f"{n:50s} {m*1e6:8.1f} us {cases[n][2]/m/1e9:6.1f} GFLOP/s")
