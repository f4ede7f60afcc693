"""fc1's dW at batch B on two threads, against one thread on all of it and on each of the two threads' column
shares (0-400 and 400-784: the shares are cut in 16-column vectors), and fc1's forward on two threads against one
thread on half the rows; own_mm_plan, in turns in one process.   python dw_halves.py B"""
import statistics, sys, time, torch
from minitorch_clf import ops
ops.load()
lib = torch.ops.minitorch_clf
B = int(sys.argv[1])
g = torch.Generator().manual_seed(0)
x = torch.randn(B, 784, generator=g); dz = torch.randn(B, 128, generator=g); W = torch.randn(128, 784, generator=g)
cases = {"dW 2t all": (dz.t(), x, [1,1,192,2,0], 2), "dW 1t all": (dz.t(), x, [1,1,192,1,0], 1),
         "dW 1t cols 0-400": (dz.t(), x[:, :400], [1,1,192,1,0], 1), "dW 1t cols 400-784": (dz.t(), x[:, 400:], [1,1,192,1,0], 1),
         "y 2t all": (x, W.t(), [1,1,192,2,1], 2), "y 1t rows 0-512": (x[:B//2], W.t(), [1,1,192,1,1], 1)}
reps = max(5, 20000 // B); t = {n: [] for n in cases}
for rnd in range(15):
    for n in (list(cases) if rnd % 2 else list(cases)[::-1]):
        a, b, plan, T = cases[n]; torch.set_num_threads(T)
        t0 = time.perf_counter()
        for _ in range(reps): lib.own_mm_plan(a, b, plan)
        t[n].append((time.perf_counter() - t0) / reps)
for n, v in t.items(): print(f"batch {B} {n:22s} {statistics.median(v)*1e6:8.1f} us")
