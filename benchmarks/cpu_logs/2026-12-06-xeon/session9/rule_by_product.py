"""In one process, the step on this build's derived plans ("grain") against the same with the L1 rule's
plans (3ed49ab: every thread for a product with an array larger than L1), all at once and one product at
a time, timed in turns (10 rounds, alternating order). python rule_by_product.py BATCH [SIZES]"""
import dataclasses, os, statistics, sys, time, torch
os.environ["MINITORCH_CLF_TUNE"] = "0"
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load(); lib = torch.ops.minitorch_clf
B = int(sys.argv[1]); SIZES = tuple(int(v) for v in (sys.argv[2] if len(sys.argv) > 2 else "784,128,64,10").split(","))
L1 = int(open("/sys/devices/system/cpu/cpu0/cache/index0/size").read().strip().rstrip("K")) * 1024
names = tune.step_shapes(B, SIZES)
def l1_plan(shape):
    p = tune.derived_plan(shape)
    a, b, c = (4 * shape.M * shape.K, 4 * shape.K * shape.N, 4 * shape.M * shape.N)
    t = torch.get_num_threads() if max(a, b, c) > L1 else int(min(max(2.0 * shape.M * shape.N * shape.K / (1 << 19), 1.0), torch.get_num_threads()))
    return dataclasses.replace(p, threads=t)
def rows(swap):
    out = []
    for name, shape in names:
        plan = l1_plan(shape) if name in swap else tune.derived_plan(shape)
        out += shape.ints() + plan.ints()
    return out
differ = [n for n, sh in names if l1_plan(sh) != tune.derived_plan(sh)]
for n, sh in names:
    if n in differ: print(n, "grain", tune.derived_plan(sh), "| L1", l1_plan(sh))
sets = {"grain": rows(()), "L1": rows(differ)}
if len(differ) > 1: sets.update({"grain, L1's " + n: rows([n]) for n in differ})
_, (acts, weights, _) = tune.step_products(B, SIZES)
step = tune.sgd_step(acts, weights)
t0 = time.perf_counter()
for _ in range(10): step()
n = max(20, int(0.1 / ((time.perf_counter() - t0) / 10)))
samples = {k: [] for k in sets}; keys = list(sets)
for r in range(10):
    for k in (keys if r % 2 == 0 else keys[::-1]):
        lib.set_gemm_plans(sets[k]); step()
        t0 = time.perf_counter()
        for _ in range(n): step()
        samples[k].append((time.perf_counter() - t0) / n * 1e6)
for k, s in samples.items(): print(f"{SIZES} batch {B} {k:40s} {statistics.median(s):7.1f} us ({min(s):.1f}-{max(s):.1f})")
