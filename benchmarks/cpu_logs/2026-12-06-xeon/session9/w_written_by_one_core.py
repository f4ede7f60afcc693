"""fc1's forward at batch 1 (M = 1, K = 784, the dot kernel) alone on one and two threads, with and without
W written by the calling thread before each call (as the SGD update writes it, on one thread below
kElementsPerThread elements; torch's mul_ runs N = 128's W on two)."""
import os, statistics, time, torch, dataclasses
os.environ["MINITORCH_CLF_TUNE"] = "0"
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load(); lib = torch.ops.minitorch_clf
for N in (32, 128):
    shape = tune.Shape(1, N, 784, "rows", "columns")
    a, b = shape.operands(seed=1)
    w = b.t()   # (N, 784) contiguous: the layer's W
    base = tune.derived_plan(shape)
    for dirty in (False, True):
        for t in (1, 2):
            p = dataclasses.replace(base, kernel="dot", threads=t, split="columns")
            def f():
                if dirty: w.mul_(1.0)
                lib.own_mm_plan(a, b, p.ints())
            for _ in range(200): f()
            s = []
            for r in range(7):
                t0 = time.perf_counter()
                for _ in range(2000): f()
                s.append((time.perf_counter() - t0) / 2000 * 1e6)
            print(f"N={N} W written on the calling thread before each call: {dirty}; threads {t}: {statistics.median(s):.1f} us")
