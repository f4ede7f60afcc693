"""fc1's dW as C (128, 784) = dzᵀ·x against dWᵀ = xᵀ·dz (A = xᵀ packed tile by tile, or k row by k row:
PACK_K_OUTER=1 of pack_orders.patch; k block 192 or 384), and the forward for scale, on 1 and 2 threads, in turns.
    git apply pack_orders.patch; python dw_transposed.py B"""
import os, statistics, sys, time, torch
from minitorch_clf import ops
ops.load()
lib = torch.ops.minitorch_clf
B = int(sys.argv[1])
g = torch.Generator().manual_seed(0)
x = torch.randn(B, 784, generator=g); dz = torch.randn(B, 128, generator=g); W = torch.randn(128, 784, generator=g)
cases = {}
for T in (1, 2):
    cases[f"dW {T}t cols"] = (dz.t(), x, [1,1,192,T,0], T, "0")
    cases[f"dWT {T}t rows"] = (x.t(), dz, [1,1,192,T,1], T, "0")
    cases[f"dWT {T}t rows, A k-outer"] = (x.t(), dz, [1,1,192,T,1], T, "1")
    cases[f"dWT {T}t rows, A k-outer, kb 384"] = (x.t(), dz, [1,1,384,T,1], T, "1")
    cases[f"y {T}t rows"] = (x, W.t(), [1,1,192,T,1], T, "0")
ref = dz.t() @ x
for n, (a, b, plan, T, e) in cases.items():
    os.environ["PACK_K_OUTER"] = e; torch.set_num_threads(T)
    out = lib.own_mm_plan(a, b, plan)
    if n.startswith("dWT"): assert torch.allclose(out.t(), ref, rtol=1e-4, atol=1e-3)
reps = max(5, 20000 // B); t = {n: [] for n in cases}
for rnd in range(15):
    for n in (list(cases) if rnd % 2 else list(cases)[::-1]):
        a, b, plan, T, e = cases[n]; torch.set_num_threads(T); os.environ["PACK_K_OUTER"] = e
        t0 = time.perf_counter()
        for _ in range(reps): lib.own_mm_plan(a, b, plan)
        t[n].append((time.perf_counter() - t0) / reps)
for n, v in t.items(): print(f"batch {B} {n:34s} {statistics.median(v)*1e6:8.1f} us {2*B*784*128/statistics.median(v)/1e9:6.1f} GFLOP/s")
