"""The fused engine's epoch (60,000 random rows resident, SGD momentum 0.9) at one batch size, on the build that
PYTHONPATH names: median of 5 epochs after one warm-up. Run alternately on two builds."""
import os, statistics, sys, time, torch
import minitorch_clf
from minitorch_clf.engines import build_engine
bs = int(sys.argv[1])
torch.manual_seed(0)
if os.environ.get("FTZ"): torch.set_flush_denormal(True)   # subnormal floats (lr 0.01 at small batches) slow every step 6x
x = torch.rand(60000, 784); y = torch.randint(0, 10, (60000,))
opt = os.environ.get("OPT", "sgd")
eng = build_engine("fused", optimizer=opt, lr=0.01 if opt == "sgd" else 1e-3, **({"momentum": 0.9} if opt == "sgd" else {}), device="cpu", seed=0)
g = torch.Generator().manual_seed(0)
eng.train_epoch(x, y, torch.randperm(60000, generator=g), bs)
ts = []
for _ in range(5):
    order = torch.randperm(60000, generator=g)
    t0 = time.perf_counter(); eng.train_epoch(x, y, order, bs); ts.append(time.perf_counter() - t0)
steps = -(-60000 // bs)
where = os.path.dirname(os.path.dirname(minitorch_clf.__file__))
print(f"{where:12s} {opt} batch {bs:4d}: epoch median {statistics.median(ts):.4f} s ({statistics.median(ts) / steps * 1e6:.1f} "
      f"us/step), all {' '.join(f'{t:.3f}' for t in ts)}")
