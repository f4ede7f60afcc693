"""What bench --gemm's numpy phase measured before and after interleaved_samples gave each callable its own count
(7de16fa): numpy's OpenBLAS on the eight products of a step at BATCH, in one process, in turns (shuffled rounds),
each product timed (a) as before, every sample running the count that lasts target_s for fc1's forward (the first
callable), and (b) as now, every sample running its own count. Medians over ROUNDS rounds, us; (a) / (b) per product.
    python iters_probe.py BATCH [ROUNDS]"""
import statistics, sys, time
import numpy as np
from minitorch_clf.config import MLPConfig
from minitorch_clf.ops import tune

bs = int(sys.argv[1]); rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 15
products, _ = tune.step_products(bs, MLPConfig().sizes)
pairs = [(name, a.numpy(), b.numpy()) for name, a, b in products]
calls = {name: (lambda a=a, b=b: np.matmul(a, b)) for name, a, b in pairs}


def per_call(f, n):
    t0 = time.perf_counter()
    for _ in range(n): f()
    return (time.perf_counter() - t0) / n


own = {}
for name, f in calls.items():
    f(); t0 = time.perf_counter(); f(); own[name] = max(1, int(2e-3 / (time.perf_counter() - t0)))
first = own[pairs[0][0]]
samples = {(name, how): [] for name in calls for how in ("first's count", "own count")}
for turn in tune.shuffled_rounds(list(samples), rounds):
    for name, how in turn:
        samples[name, how].append(per_call(calls[name], first if how == "first's count" else own[name]))
print(f"batch {bs}: numpy {np.__version__}; the first's count {first} calls a sample")
for name in calls:
    a, b = (statistics.median(samples[name, h]) * 1e6 for h in ("first's count", "own count"))
    print(f"  {name:18s} first's count {a:8.1f} us   own count ({own[name]:5d} calls) {b:8.1f} us   {a / b:.2f}x")
