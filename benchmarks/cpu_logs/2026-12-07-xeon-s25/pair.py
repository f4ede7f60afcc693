"""fc1's forward and dW at batch B, 2 threads: alone (each repeated) against back to back (forward, dW, forward,
dW, ...), with the threads' cuts of x matching or not; own_mm_plan, in turns in one process."""
import statistics, sys, time, torch
from minitorch_clf import ops
ops.load()
lib = torch.ops.minitorch_clf
B = int(sys.argv[1]); torch.set_num_threads(2)
g = torch.Generator().manual_seed(0)
x = torch.randn(B, 784, generator=g); dz = torch.randn(B, 128, generator=g); W = torch.randn(128, 784, generator=g)
Y = {"rows": [1, 1, 192, 2, 1], "depth": [1, 1, 192, 2, 2], "cols": [1, 1, 192, 2, 0]}
D = {"cols": [1, 1, 192, 2, 0], "depth": [1, 1, 192, 2, 2], "rows": [1, 1, 192, 2, 1]}
fy = lambda p: (lambda: lib.own_mm_plan(x, W.t(), p))
fd = lambda p: (lambda: lib.own_mm_plan(dz.t(), x, p))
cases = {f"y {k} alone": [fy(p)] for k, p in Y.items()}
cases.update({f"dW {k} alone": [fd(p)] for k, p in D.items()})
cases.update({f"y rows + dW {k}": [fy(Y['rows']), fd(p)] for k, p in D.items()})
cases.update({f"y depth + dW {k}": [fy(Y['depth']), fd(p)] for k, p in D.items()})
reps = max(5, 20000 // B); t = {n: [] for n in cases}
for rnd in range(15):
    for n in (list(cases) if rnd % 2 else list(cases)[::-1]):
        fs = cases[n]
        for f in fs: f()
        t0 = time.perf_counter()
        for _ in range(reps):
            for f in fs: f()
        t[n].append((time.perf_counter() - t0) / reps)
for n, v in t.items(): print(f"batch {B} {n:22s} {statistics.median(v)*1e6:8.1f} us  (q1 {sorted(v)[3]*1e6:.1f}, q3 {sorted(v)[11]*1e6:.1f})")
