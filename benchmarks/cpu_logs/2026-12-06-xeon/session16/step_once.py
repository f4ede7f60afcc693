"""One process of ab_steps.sh: the one-call SGD step (mlp_sgd_step_, SimpleNet, ReLU, momentum 0.9; the step
bench --gemm times) at one batch size on the tuned plans of the cache in force, 20,000 steps in all, then the epoch op over 6,400 rows (8 batches at least).
Prints the step's median over 40 blocks of steps and the epoch's per-step median of 5 epochs; with the phase
clock built in (apply_phase_clock.py) and PHASE_CLOCK=1, its medians too.
    python step_once.py BATCH"""
import statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.config import MLPConfig
from minitorch_clf.ops import tune

ops.load()
bs = int(sys.argv[1])
tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
_, (acts, weights, _) = tune.step_products(bs, MLPConfig().sizes)
step = tune.sgd_step(acts, weights)
reps = max(20, 12_800 // bs)
for _ in range(2 * reps): step()
blocks = []
for _ in range(40):
    t0 = time.perf_counter()
    for _ in range(reps): step()
    blocks.append((time.perf_counter() - t0) / reps * 1e6)
for _ in range(20000 - 42 * reps): step()   # the phase clock reports at the 20,000th step
x, y, W, B, bufs = step.args[0], step.args[1], step.args[2], step.args[3], step.args[4]
g = torch.Generator().manual_seed(0)
X = torch.rand(60000, 784, generator=g); Y = torch.randint(0, 10, (60000,), generator=g)
order = torch.randperm(60000, generator=g)[:max(6400, 8 * bs)]
lib = torch.ops.minitorch_clf
epochs = []
for _ in range(6):
    t0 = time.perf_counter()
    lib.mlp_sgd_epoch_(X, Y, order, bs, False, W, B, bufs, "relu", tune.STEP_LR, 0.9, 0.0, 0.0, False, False)
    epochs.append((time.perf_counter() - t0) / (len(order) / bs) * 1e6)
print(f"batch {bs}: step {statistics.median(blocks):.1f} us (blocks {min(blocks):.1f}-{max(blocks):.1f}), "
      f"epoch op {statistics.median(epochs[1:]):.1f} us a step", flush=True)
