"""The fused engine's epoch (60,000 random rows resident, batch 64, SGD momentum 0.9) in this process's plans:
MINITORCH_CLF_TUNE=0 (derived) or 1 (the cached tuned plans). Median of 5 epochs after one warm-up."""
import os, statistics, sys, time, torch
from minitorch_clf.engines import build_engine
torch.manual_seed(0)
x = torch.rand(60000, 784); y = torch.randint(0, 10, (60000,))
eng = build_engine("fused", optimizer="sgd", lr=0.01, momentum=0.9, device="cpu", seed=0)
g = torch.Generator().manual_seed(0)
eng.train_epoch(x, y, torch.randperm(60000, generator=g), 64)
ts = []
for _ in range(5):
    order = torch.randperm(60000, generator=g)
    t0 = time.perf_counter(); eng.train_epoch(x, y, order, 64); ts.append(time.perf_counter() - t0)
print(f"TUNE={os.environ.get('MINITORCH_CLF_TUNE', '1')}: epoch median {statistics.median(ts):.4f} s "
      f"({statistics.median(ts) / 938 * 1e6:.1f} us/step), all {' '.join(f'{t:.3f}' for t in ts)}")
