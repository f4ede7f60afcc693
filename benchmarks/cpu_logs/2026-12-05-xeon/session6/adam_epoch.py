"""Adam's epoch on the fused CPU engine, in one process: the loop of layered steps (whole_step off: what every
Adam epoch ran before), and mlp_adam_epoch_ (one call); 60,000 random rows at batch 64, rounds in turns."""
import random, statistics, time
import torch
from minitorch_clf.engines import build_engine

g = torch.Generator().manual_seed(0)
x, y = torch.randn(60000, 784, generator=g), torch.randint(0, 10, (60000,), generator=g)
engs = {"layered loop": build_engine("fused", optimizer="adam", lr=1e-3, seed=0),
        "one call": build_engine("fused", optimizer="adam", lr=1e-3, seed=0)}
engs["layered loop"].whole_step = False
times = {k: [] for k in engs}
for r in range(4):
    keys = list(engs); random.shuffle(keys)
    for k in keys:
        order = torch.randperm(60000, generator=g)
        t = time.perf_counter()
        engs[k].train_epoch(x, y, order, 64)
        times[k].append(time.perf_counter() - t)
print(" | ".join(f"{k}: {statistics.median(v):.3f} s {[round(t, 3) for t in v]}" for k, v in times.items()))
