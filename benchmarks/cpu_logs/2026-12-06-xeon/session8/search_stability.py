"""Three short searches with the old neighbourhood and three with the new one at one batch, then every
result (and the derived plans) raced in turns on the same step, in one process."""
import dataclasses, statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load(); lib = torch.ops.minitorch_clf
B = int(sys.argv[1]); SIZES = (784, 128, 64, 10)
new_choices = tune._choices
def old_choices(shape, plan, threads):
    out = [dataclasses.replace(plan, isa=isa) for isa in tune._isas() if isa != plan.isa]
    if shape.a == "rows" and shape.b == "columns":
        out.append(dataclasses.replace(plan, kernel="dot" if plan.kernel == "outer" else "outer"))
    if plan.kernel == "outer" and plan.isa != "scalar":
        whole = -(-shape.K // 8) * 8
        for k in sorted({plan.k_block // 2, plan.k_block * 2, whole}):
            if 16 <= k <= whole and k != plan.k_block:
                out.append(dataclasses.replace(plan, k_block=k))
    out += [dataclasses.replace(plan, threads=t) for t in range(1, threads + 1) if t != plan.threads]
    if plan.threads > 1:
        out.append(dataclasses.replace(plan, split="rows" if plan.split == "columns" else "columns"))
    return out
results = {}
for i in range(3):
    for name, ch in (("old", old_choices), ("new", new_choices)):
        tune._choices = ch
        r = tune.search(B, SIZES)
        results[f"{name}{i}"] = [v for _, shape, plan, _ in r.products for v in shape.ints() + plan.ints()]
        if i == 0 and name == "old":
            results["derived"] = [v for _, shape, _, d in r.products for v in shape.ints() + d.ints()]
        print(name, i, f"search says tuned {r.seconds*1e6:.1f} us, derived {r.derived_seconds*1e6:.1f}", flush=True)
_, (acts, weights, _) = tune.step_products(B, SIZES)
step = tune.sgd_step(acts, weights)
samples = {k: [] for k in results}
n = 2000 if B < 256 else 300
names = list(results)
for r in range(12):
    for k in (names if r % 2 == 0 else names[::-1]):
        lib.set_gemm_plans(results[k]); step()
        t0 = time.perf_counter()
        for _ in range(n): step()
        samples[k].append((time.perf_counter() - t0) / n * 1e6)
for k, s in samples.items(): print(f"batch {B} {k:8s} {statistics.median(s):6.1f} us ({min(s):.1f}-{max(s):.1f})")
