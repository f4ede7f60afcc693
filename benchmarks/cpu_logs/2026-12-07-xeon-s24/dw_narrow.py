"""fc1's dW on one thread on column ranges of x: a whole 32-column panel, the 16-column panel at 384-400 (the
first thread's last, on the 8 x 16 tile), and the two threads' shares; in turns in one process.   python dw_narrow.py B"""
import statistics, sys, time, torch
from minitorch_clf import ops
ops.load()
lib = torch.ops.minitorch_clf
B = int(sys.argv[1]); torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
x = torch.randn(B, 784, generator=g); dz = torch.randn(B, 128, generator=g)
cases = {"cols 0-32": x[:, :32], "cols 384-400": x[:, 384:400], "cols 0-64": x[:, :64], "cols 0-48": x[:, :48], "cols 400-784": x[:, 400:], "cols 384-784": x[:, 384:], "cols 0-400": x[:, :400]}
reps = max(5, 100000 // B); t = {n: [] for n in cases}
for rnd in range(15):
    for n in (list(cases) if rnd % 2 else list(cases)[::-1]):
        b = cases[n]
        t0 = time.perf_counter()
        for _ in range(reps): lib.own_mm_plan(dz.t(), b, [1,1,192,1,0])
        t[n].append((time.perf_counter() - t0) / reps)
for n, v in t.items():
    m = statistics.median(v); N = cases[n].shape[1]
    print(f"batch {B} {n:14s} {m*1e6:8.1f} us {2*B*N*128/m/1e9:6.1f} GFLOP/s")
