"""One process of ab_adam.sh: the fused engine's step with Adam (engine.step: its Python, then the op
mlp_adam_step_) at one batch size, derived plans (MINITORCH_CLF_TUNE=0: both builds the same), median of 40
blocks of steps.    MINITORCH_CLF_TUNE=0 python adam_once.py BATCH"""
import statistics, sys, time, torch
from minitorch_clf.engines import build_engine

bs = int(sys.argv[1])
eng = build_engine("fused", optimizer="adam", lr=1e-12, seed=0)
g = torch.Generator().manual_seed(0)
x, y = torch.rand(bs, 784, generator=g), torch.randint(0, 10, (bs,), generator=g)
reps = max(20, 12_800 // bs)
for _ in range(2 * reps): eng.step(x, y)
blocks = []
for _ in range(40):
    t0 = time.perf_counter()
    for _ in range(reps): eng.step(x, y)
    blocks.append((time.perf_counter() - t0) / reps * 1e6)
print(f"batch {bs}: adam step {statistics.median(blocks):.1f} us (blocks {min(blocks):.1f}-{max(blocks):.1f})", flush=True)
