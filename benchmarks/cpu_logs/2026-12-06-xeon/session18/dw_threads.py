"""fc1's dW = dzᵀ·x at BATCH through own_mm_plan (direct calls): K blocks 128-384, one thread, two by columns, by rows
and by K; MKL (torch.mm) on the same operands. Medians of 11 rounds of 20 calls, two passes.   python dw_threads.py BATCH"""
import sys, time, torch
from minitorch_clf import ops
ops.load(); d = ops.direct()
N = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
torch.manual_seed(0)
x = torch.rand(N, 784); dz = torch.randn(N, 128) * 1e-3
a, b = dz.t(), x
def med(f, n=20, rounds=11):
    for _ in range(3): f()
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(n): f()
        ts.append((time.perf_counter_ns() - t0) / n / 1e3)
    ts.sort(); return ts[len(ts) // 2]
plans = {}
for kb in (128, 192, 256, 384):
    for th, sp in ((1, 0), (2, 0), (2, 1), (2, 2)):
        plans[f"k{kb} {th}t {'cols rows k'.split()[sp]}"] = [1, 1, kb, th, sp]
flops = 2 * 128 * 784 * N
for rnd in range(2):
    row = {"mkl": med(lambda: torch.mm(a, b))}
    for name, p in plans.items():
        row[name] = med(lambda: d.own_mm_plan(a, b, p))
    print(" ".join(f"{k}={v:.0f}" for k, v in row.items()))
    print("GFLOP/s", " ".join(f"{k}={flops / v / 1e3:.0f}" for k, v in row.items()))
