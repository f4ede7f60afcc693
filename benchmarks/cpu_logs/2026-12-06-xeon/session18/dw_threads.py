"""fc1's dW = dzᵀ·x at BATCH through own_mm_plan (direct calls): K blocks 128-384, one thread, two by columns, by rows
and by K; MKL (torch.mm) on the same operands. Medians of 11 rounds of 20 calls, two passes.   python dw_threads.py BATCH"""
import sys, time, torch
from minitorch_clf import ops
from probe_timing import median_us
ops.load(); d = ops.direct()
N = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
torch.manual_seed(0)
x = torch.rand(N, 784); dz = torch.randn(N, 128) * 1e-3
a, b = dz.t(), x
plans = {}
for kb in (128, 192, 256, 384):
    for th, sp in ((1, 0), (2, 0), (2, 1), (2, 2)):
        plans[f"k{kb} {th}t {'cols rows k'.split()[sp]}"] = [1, 1, kb, th, sp]
flops = 2 * 128 * 784 * N
for rnd in range(2):
    row = {"mkl": median_us(lambda: torch.mm(a, b))}
    for name, p in plans.items():
        row[name] = median_us(lambda: d.own_mm_plan(a, b, p))
    print(" ".join(f"{k}={v:.0f}" for k, v in row.items()))
    print("GFLOP/s", " ".join(f"{k}={flops / v / 1e3:.0f}" for k, v in row.items()))
