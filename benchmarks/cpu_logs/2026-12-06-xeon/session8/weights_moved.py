import torch
from minitorch_clf.ops import tune
from minitorch_clf import ops
ops.load()
for B in (1, 16, 64):
    _, (acts, weights, _) = tune.step_products(B, (784, 128, 64, 10))
    step = tune.sgd_step(acts, weights)
    w0 = [w.clone() for w in step.args[2]]
    for _ in range(3000): step()
    moved = [int((a != b).sum()) for a, b in zip(step.args[2], w0)]
    small = [int((w.abs() < 1e-4).sum()) for w in w0]
    print(B, "weights changed after 3000 steps:", moved, "of", [w.numel() for w in w0], "; weights below 1e-4:", small, "max |buf|", max(float(b.abs().max()) for b in step.args[4]))
