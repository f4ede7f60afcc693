"""Does the search's start matter? Three short searches from the derived plans of the previous rule
(gemm.cpp before 399de51: threads by flops, columns first) and three from this build's, then all six results
and both sets of derived plans raced in turns on one step: python search_from_derived.py BATCH."""
import dataclasses, statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load(); lib = torch.ops.minitorch_clf
B = int(sys.argv[1]); SIZES = (784, 128, 64, 10)
now_derived = tune.derived_plan
def previous_derived(shape):
    plan = now_derived(shape)
    flops = 2.0 * shape.M * shape.N * shape.K
    return dataclasses.replace(plan, threads=int(min(max(flops / (1 << 19), 1.0), torch.get_num_threads())), split="columns")
def ints(pairs): return [v for shape, plan in pairs for v in shape.ints() + plan.ints()]
results = {}
for i in range(3):
    for name, start in (("from previous", previous_derived), ("from this", now_derived)):
        tune.derived_plan = start
        r = tune.search(B, SIZES)
        results[f"{name} {i}"] = ints((shape, plan) for _, shape, plan, _ in r.products)
        print(f"{name} {i}: search says tuned {r.seconds*1e6:.1f} us, derived {r.derived_seconds*1e6:.1f}", flush=True)
tune.derived_plan = now_derived
shapes = [shape for _, shape in tune.step_shapes(B, SIZES)]
results["derived, previous rule"] = ints((s, previous_derived(s)) for s in shapes)
results["derived, this rule"] = ints((s, now_derived(s)) for s in shapes)
_, (acts, weights, _) = tune.step_products(B, SIZES)
step = tune.sgd_step(acts, weights)
samples = {k: [] for k in results}; names = list(results)
n = max(20, int(200000 / (B + 16)))
for r in range(12):
    for k in (names if r % 2 == 0 else names[::-1]):
        lib.set_gemm_plans(results[k]); step()
        t0 = time.perf_counter()
        for _ in range(n): step()
        samples[k].append((time.perf_counter() - t0) / n * 1e6)
for k, s in samples.items(): print(f"batch {B} {k:24s} {statistics.median(s):7.1f} us ({min(s):.1f}-{max(s):.1f})")
