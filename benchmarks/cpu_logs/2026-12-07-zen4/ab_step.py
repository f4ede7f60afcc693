"""One tree's fused CPU step and epoch, through the op (torch.ops.minitorch_clf, the dispatcher), on the derived
plans (MINITORCH_CLF_TUNE=0 in the caller's environment), so that two commits' kernels can be timed in
alternating processes:
    PYTHONPATH=TREE MINITORCH_CLF_TUNE=0 python ab_step.py LABEL BATCH ...
prints one line per batch: LABEL, batch, the step's median over 15 blocks (us), the epoch (60,000 rows at
batch 64, mlp_sgd_epoch_, median of 3, s)."""
import math
import statistics
import sys
import time

import torch

from minitorch_clf import ops

SIZES = (784, 128, 64, 10)
LR = 1e-12          # thousands of steps leave the weights where they were (no subnormals creep in)


def params(seed=0):
    g = torch.Generator().manual_seed(seed)
    ws, bs = [], []
    for i, o in zip(SIZES, SIZES[1:]):                   # nn.Linear's init: U(-1/sqrt(in), 1/sqrt(in))
        bound = 1 / math.sqrt(i)
        ws.append((torch.rand(o, i, generator=g) * 2 - 1) * bound)
        bs.append((torch.rand(o, generator=g) * 2 - 1) * bound)
    bufs = [torch.zeros_like(p) for w, b in zip(ws, bs) for p in (w, b)]
    return ws, bs, bufs


def step_us(batch):
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(batch, SIZES[0], generator=g), torch.randint(0, 10, (batch,), generator=g)
    ws, bs, bufs = params()
    op = torch.ops.minitorch_clf.mlp_sgd_step_
    call = lambda: op(x, y, ws, bs, bufs, "relu", LR, 0.9, 0.0, 0.0, False, False)
    n = max(10, 20000 // batch)
    for _ in range(n): call()
    blocks = []
    for _ in range(15):
        t = time.perf_counter()
        for _ in range(n): call()
        blocks.append((time.perf_counter() - t) / n)
    return statistics.median(blocks) * 1e6


def epoch_s():
    g = torch.Generator().manual_seed(2)
    x, y = torch.rand(60000, SIZES[0], generator=g), torch.randint(0, 10, (60000,), generator=g)
    ws, bs, bufs = params()
    op = torch.ops.minitorch_clf.mlp_sgd_epoch_
    times = []
    for _ in range(4):
        order = torch.randperm(60000, generator=g)
        t = time.perf_counter()
        op(x, y, order, 64, False, ws, bs, bufs, "relu", 0.01, 0.9, 0.0, 0.0, False, False)
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


ops.load()
label = sys.argv[1]
for b in sys.argv[2:]:
    print(f"{label} batch {b} step {step_us(int(b)):.1f} us", flush=True)
print(f"{label} epoch@64 {epoch_s():.3f} s", flush=True)
