import sys, dataclasses, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load()
bs, sizes = int(sys.argv[1]), (784, 128, 64, 10)
tune.ensure(bs, sizes, log=lambda m: None)
products, (acts, weights, dzs) = tune.step_products(bs, sizes)
names = [(n, tune.Shape.of(a, b)) for n, a, b in products]
derived = {s: tune.derived_plan(s) for _, s in names}
cached = {**derived, **{s: dataclasses.replace(derived[s], threads=1) for n, s in names if n.startswith("fc2")}}
print([f"{n.split(' =')[0]}:{p.threads}" for (n, _), p in zip(names, cached.values())])
step, installed = tune.sgd_step(acts, weights), [None]
calls = {k: tune._running(v, step, installed) for k, v in {"derived": derived, "cached": cached}.items()}
if len(sys.argv) > 2:
    calls["eight own"] = tune._running(cached, lambda: ops.mlp_products(acts, weights, dzs, "own"), installed)
    calls["eight aten"] = lambda: ops.mlp_products(acts, weights, dzs, "aten")
for rep in range(3):
    t = tune.medians(calls, 15)
    print(" ".join(f"{k} {v*1e6:.1f}" for k, v in t.items()), f"derived/cached {t['derived']/t['cached']:.3f}")
tune._reinstall()
