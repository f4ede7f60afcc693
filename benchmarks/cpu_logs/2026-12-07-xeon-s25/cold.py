"""fc1's forward and dW at batch 1024 (2 threads, the derived plans) with x the same each call (warm) against x one
of 8 buffers in turn (cold: 26 MB), in turns in one process. With a_ahead.patch applied, A_AHEAD=1 (prefetcht1) or
2 (prefetcht2) asks for the lines of the next packed A block's source into L2, a share of them before each tile."""
import statistics, sys, time, torch
from minitorch_clf import ops
ops.load(); lib = torch.ops.minitorch_clf; torch.set_num_threads(2)
B = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
g = torch.Generator().manual_seed(0)
xs = [torch.randn(B, 784, generator=g) for _ in range(8)]; dz = torch.randn(B, 128, generator=g); W = torch.randn(128, 784, generator=g)
Y, D = [1, 1, 192, 2, 1], [1, 1, 192, 2, 0]
cases = {"y warm": lambda i: lib.own_mm_plan(xs[0], W.t(), Y), "y cold": lambda i: lib.own_mm_plan(xs[i % 8], W.t(), Y),
         "dW warm": lambda i: lib.own_mm_plan(dz.t(), xs[0], D), "dW cold": lambda i: lib.own_mm_plan(dz.t(), xs[i % 8], D)}
reps = 24; t = {n: [] for n in cases}
for rnd in range(15):
    for n in (list(cases) if rnd % 2 else list(cases)[::-1]):
        f = cases[n]
        for i in range(8): f(i)
        t0 = time.perf_counter()
        for i in range(reps): f(i)
        t[n].append((time.perf_counter() - t0) / reps)
for n, v in t.items(): print(f"batch {B} {n:10s} {statistics.median(v)*1e6:8.1f} us  (q1 {sorted(v)[3]*1e6:.1f}, q3 {sorted(v)[11]*1e6:.1f})")
