"""fc1's forward and dW at batch 1024, as the step runs them (the forward on all rows, then dW over all rows) against
row chunks (each chunk's forward, then its rows' share of dW, chunk after chunk, so that dW reads x's rows while they
are in L2). Wᵀ stored with rows 576 bytes apart (read in place, no transposes) in both, so the chunks pay no repeated
packing; each chunk's dW written to its own output (the real loop would add it into one). Shuffled turns in one
process, medians (range), us.
    PYTHONPATH=. python benchmarks/cpu_logs/2026-12-07-xeon-s27/chunks.py [BATCH] [CHUNK ...]"""
import random, statistics, sys, time, torch
from minitorch_clf import ops
ops.load()
bs = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
chunks = [int(c) for c in sys.argv[2:]] or [128, 192, 256, 512]
g = torch.Generator().manual_seed(0)
x = torch.rand(bs, 784, generator=g); dz = torch.randn(bs, 128, generator=g) * 1e-3
W = torch.randn(128, 784, generator=g) * 0.05
Wp = torch.empty(784, 144)[:, :128]; Wp.copy_(W.t())
def whole():
    ops.own_mm(x, Wp); ops.own_mm(dz.t(), x)
def chunked(c):
    def f():
        for r in range(0, bs, c):
            ops.own_mm(x[r:r + c], Wp); ops.own_mm(dz[r:r + c].t(), x[r:r + c])
    return f
work = {"whole": whole, **{f"chunks of {c}": chunked(c) for c in chunks}}
# the same sums: dW over the chunks added up equals dW over all rows within float32 rounding
full = ops.own_mm(dz.t(), x)
parts = sum(ops.own_mm(dz[r:r + 192].t(), x[r:r + 192]) for r in range(0, bs, 192))
assert torch.allclose(full, parts, rtol=1e-4, atol=1e-6)
rng = random.Random(0)
t = {k: [] for k in work}
for _ in range(15):
    ks = list(work); rng.shuffle(ks)
    for k in ks:
        work[k]()
        t0 = time.perf_counter()
        for _ in range(10): work[k]()
        t[k].append((time.perf_counter() - t0) / 10 * 1e6)
base = statistics.median(t["whole"])
for k, v in t.items():
    m = statistics.median(v)
    print(f"batch {bs} {k:16s} {m:8.1f} us ({min(v):.1f}-{max(v):.1f})  {m / base:.3f}", flush=True)
