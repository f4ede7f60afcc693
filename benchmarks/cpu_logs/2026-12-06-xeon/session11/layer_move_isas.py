import sys, dataclasses, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load()
bs, sizes = int(sys.argv[1]), (784, 128, 64, 10)
isa = sys.argv[2]
products, (acts, weights, dzs) = tune.step_products(bs, sizes)
names = [(n, tune.Shape.of(a, b)) for n, a, b in products]
derived = {s: tune.Plan.from_ints(torch.ops.minitorch_clf.gemm_plan(s.ints(), isa)[:5]) for _, s in names}
fc2 = {**derived, **{s: dataclasses.replace(derived[s], threads=1) for n, s in names if n.startswith("fc2")}}
print(isa, [f"{n.split(' =')[0]}:{p.threads}" for (n, _), p in zip(names, derived.values())])
step, installed = tune.sgd_step(acts, weights), [None]
calls = {k: tune._running(v, step, installed) for k, v in {"derived": derived, "fc2 1t": fc2}.items()}
for rep in range(3):
    t = tune.medians(calls, 15)
    print(" ".join(f"{k} {v*1e6:.1f}" for k, v in t.items()), f"derived/fc2 1t {t['derived']/t['fc2 1t']:.3f}")
tune._reinstall()
