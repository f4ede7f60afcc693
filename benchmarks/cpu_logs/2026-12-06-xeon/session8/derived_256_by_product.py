import statistics, sys, time, torch, dataclasses
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load(); lib = torch.ops.minitorch_clf
B = int(sys.argv[1]); SIZES = (784, 128, 64, 10)
names = tune.step_shapes(B, SIZES)
def old_plan(shape):
    p = tune.derived_plan(shape)
    flops = 2.0 * shape.M * shape.N * shape.K
    t = int(min(max(flops / (1 << 19), 1.0), torch.get_num_threads()))
    return dataclasses.replace(p, threads=t, split="columns")
def rows(swap):
    out = []
    for name, shape in names:
        plan = old_plan(shape) if name in swap else tune.derived_plan(shape)
        out += shape.ints() + plan.ints()
    return out
sets = {"new": rows(()), "old": rows([n for n, _ in names])}
for n, sh in names:
    if old_plan(sh) != tune.derived_plan(sh):
        sets["new, old " + n] = rows([n])
        print(n, "old", old_plan(sh).threads, old_plan(sh).split, "new", tune.derived_plan(sh).threads, tune.derived_plan(sh).split)
_, (acts, weights, _) = tune.step_products(B, SIZES)
step = tune.sgd_step(acts, weights)
samples = {k: [] for k in sets}; keys = list(sets)
n = max(20, int(100000 / (B + 16)))
for r in range(10):
    for k in (keys if r % 2 == 0 else keys[::-1]):
        lib.set_gemm_plans(sets[k]); step()
        t0 = time.perf_counter()
        for _ in range(n): step()
        samples[k].append((time.perf_counter() - t0) / n * 1e6)
for k, s in samples.items(): print(f"batch {B} {k:40s} {statistics.median(s):7.1f} us ({min(s):.1f}-{max(s):.1f})")
