"""The fused step (float32 and bf16) on three sets of GEMM plans in one process, in shuffled turns: the cache of the
old search (before/tune_cache.json), of the new one (after/tune_cache.json), and the derived plans.
    python plans_ab.py BATCH [ROUNDS]"""
import json, sys
from pathlib import Path
import torch
from minitorch_clf import ops
from minitorch_clf.ops import tune

batch = int(sys.argv[1]); rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 21
here = Path(__file__).resolve().parent
def rows(path):
    plans = json.loads(Path(path).read_text())["plans"]
    out = []
    for e in plans:
        if e["batch_size"] != batch: continue
        s, p = tune.Shape(**e["shape"]), tune.Plan(**e["plan"])
        out += s.ints() + p.ints()
    return out
sets = {"old search": rows(here / "before/tune_cache.json"), "new search": rows(here / "after/tune_cache.json"), "derived": []}
products, (acts, weights, _) = tune.step_products(batch, (784, 128, 64, 10))
ops.load()
lib = torch.ops.minitorch_clf
for precision in ("float32", "bf16"):
    prev = ops.set_precision(precision)
    step = tune.sgd_step(acts, weights)

    def make(r):                      # a sample installs its plans, then times five steps on them
        def f():
            lib.set_gemm_plans(r)
            for _ in range(5):
                step()
        return f
    t = tune.medians({n: make(r) for n, r in sets.items()}, rounds, target_s=5e-3)
    ops.set_precision(prev)
    print(f"batch {batch} {precision}: " + ", ".join(f"{n} {v / 5 * 1e6:.1f} us" for n, v in t.items())
          + f"; new/old {t['new search'] / t['old search']:.3f}, derived/old {t['derived'] / t['old search']:.3f}", flush=True)
lib.set_gemm_plans([])
