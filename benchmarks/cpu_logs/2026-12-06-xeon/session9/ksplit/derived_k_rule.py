"""The derived plans' K cut (gemm.cpp's derived_plan: two ranges where A is read by columns and B by rows, C
fits L1, A and B are each larger than C and the flops are worth two threads) against the same plans with
those products cut by columns of C instead (the previous derived plans), the step timed in turns, 15 rounds.
python derived_k_rule.py BATCH:SIZES ...; PLAN_ISA=avx2 runs every product's plan on AVX2 (the element passes
stay on the widest ISA: a named ISA would switch the tuned-plan table off)."""
import dataclasses, os, statistics, sys, time, torch
os.environ["MINITORCH_CLF_TUNE"] = "0"
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load(); lib = torch.ops.minitorch_clf
for spec in sys.argv[1:]:
    B, sizes = spec.split(":"); B = int(B); SIZES = tuple(int(v) for v in sizes.split(","))
    names = tune.step_shapes(B, SIZES)
    cut = [n for n, sh in names if tune.derived_plan(sh).split == "k"]
    def rows(with_cut):
        out = []
        for name, shape in names:
            plan = tune.derived_plan(shape)
            if os.environ.get("PLAN_ISA"): plan = dataclasses.replace(plan, isa=os.environ["PLAN_ISA"])
            if not with_cut and plan.split == "k": plan = dataclasses.replace(plan, split="columns")
            out += shape.ints() + plan.ints()
        return out
    sets = {"by columns": rows(False), "by k": rows(True)}
    _, (acts, weights, _) = tune.step_products(B, SIZES)
    step = tune.sgd_step(acts, weights)
    t0 = time.perf_counter(); step(); step(); t = (time.perf_counter() - t0) / 2
    n = max(5, int(0.03 / t))
    res = {k: [] for k in sets}; keys = list(sets)
    for r in range(15):
        for k in (keys if r % 2 == 0 else keys[::-1]):
            lib.set_gemm_plans(sets[k]); step()
            t0 = time.perf_counter()
            for _ in range(n): step()
            res[k].append((time.perf_counter() - t0) / n * 1e6)
    lib.set_gemm_plans([])
    c, k = statistics.median(res["by columns"]), statistics.median(res["by k"])
    print(f"{os.environ.get('PLAN_ISA', '')} {sizes} batch {B}: cut by k {cut}  by columns {c:.1f} us  by k {k:.1f} us  ({k / c:.3f})")
