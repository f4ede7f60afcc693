import sys, dataclasses, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load()
bs = int(sys.argv[1])
sizes = (784, 128, 64, 10)
tune.ensure(bs, sizes, log=lambda m: None)
products, (acts, weights, _) = tune.step_products(bs, sizes)
names = [(n, tune.Shape.of(a, b)) for n, a, b in products]
base = {s: tune.derived_plan(s) for _, s in names}
def variant(pred, **kw):
    return {s: (dataclasses.replace(p, **kw) if pred(n) else p) for (n, s), p in zip(names, base.values())}
step, installed = tune.sgd_step(acts, weights), [None]
vs = {"derived": base, "derived again": dict(base),
      "fc2 1t": variant(lambda n: n.startswith("fc2"), threads=1),
      "fc2+fc3 1t": variant(lambda n: n.startswith(("fc2", "fc3")), threads=1),
      "fc2 fwd 1t": variant(lambda n: n.startswith("fc2 y"), threads=1),
      "fc2 dW 1t": variant(lambda n: n.startswith("fc2 dW"), threads=1),
      "fc2 dx 1t": variant(lambda n: n.startswith("fc2 dx"), threads=1),
      }
calls = {k: tune._running(v, step, installed) for k, v in vs.items()}
t = tune.medians(calls, 21)
for k, v in t.items(): print(f"{k:12s} {v*1e6:7.1f} us")
tune._reinstall()
