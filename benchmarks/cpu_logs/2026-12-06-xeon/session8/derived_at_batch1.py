"""The timed step at a batch on the derived plans, and on the derived plans with one product changed: fc1's
dW on all threads cut by rows, or fc1's dW and forward so. In turns, medians of 12 rounds."""
import statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load(); lib = torch.ops.minitorch_clf
B = int(sys.argv[1]); SIZES = (784, 128, 64, 10)
names = tune.step_shapes(B, SIZES)
def rows(change):
    out = []
    for name, shape in names:
        plan = tune.derived_plan(shape)
        if name in change:
            plan = tune.Plan(plan.isa, plan.kernel, plan.k_block, torch.get_num_threads(), change[name])
        out += shape.ints() + plan.ints()
    return out
sets = {"derived": rows({}), "derived, fc1 dW on 2 threads by rows": rows({"fc1 dW = dzᵀ·x": "rows"}),
        "derived, fc1 dW by rows and fc1 y by columns on 2 threads": rows({"fc1 dW = dzᵀ·x": "rows", "fc1 y = x·Wᵀ": "columns"})}
_, (acts, weights, _) = tune.step_products(B, SIZES)
step = tune.sgd_step(acts, weights)
samples = {k: [] for k in sets}
keys = list(sets)
for r in range(12):
    for k in (keys if r % 2 == 0 else keys[::-1]):
        lib.set_gemm_plans(sets[k]); step()
        t0 = time.perf_counter()
        for _ in range(2000): step()
        samples[k].append((time.perf_counter() - t0) / 2000 * 1e6)
for k, s in samples.items(): print(f"batch {B} {k:60s} {statistics.median(s):6.1f} us ({min(s):.1f}-{max(s):.1f})")
print([ (n, tune.derived_plan(s)) for n, s in names][:4])
