"""The float32 one-call SGD step at batch B on the plans in force (tuned at first use) against the same with fc1's
dW cut another way (Plan split SPLIT: 'k', along K, the default; 'rows'), in turns, each round tagged by where the
VM's two vCPUs sit (placed_ab.py's pingpong: near under 150 ns, far over 250 ns; a round whose readings disagree is
dropped). Prints the plans, whether the momentum after one step from zero (the gradients) is bit-equal, and per
placement the medians and the median of each round's paired ratio.
    python placed_plans.py B SECONDS [SPLIT]"""
import collections, dataclasses, os, statistics, subprocess, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.config import MLPConfig
from minitorch_clf.ops import tune

ops.load()
PP = "/tmp/pingpong_probe"
subprocess.run(["gcc", "-O2", "-pthread", os.path.join(os.path.dirname(os.path.abspath(__file__)), "pingpong.c"),
                "-o", PP], check=True)
rtt = lambda: float(subprocess.run([PP], capture_output=True, text=True, check=True).stdout)
place = lambda ns: "near" if ns < 150 else "far" if ns > 250 else None
bs, seconds = int(sys.argv[1]), float(sys.argv[2])
split = sys.argv[3] if len(sys.argv) > 3 else "k"
tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
products, (acts, weights, _) = tune.step_products(bs, MLPConfig().sizes)
names = [(name, tune.Shape.of(a, b)) for name, a, b in products]
now = {shape: tune.plan_in_force(shape)[0] for _, shape in names}
fc1_dw = next(shape for name, shape in names if name.startswith("fc1 dW"))
by_k = {**now, fc1_dw: dataclasses.replace(now[fc1_dw], split=split)}
OTHER = f"fc1 dW by {split}"
print(f"batch {bs}: fc1's dW {now[fc1_dw]} -> {by_k[fc1_dw]}")
step, installed = tune.sgd_step(acts, weights), [None]
outs = {}
for label, plans in (("in force", now), (OTHER, by_k)):
    state = [t.clone() for t in step.args[2]] + [t.clone() for t in step.args[4]]
    tune._running(plans, step, installed)()
    outs[label] = [t.clone() for t in step.args[4]]
    for t, s in zip(list(step.args[2]) + list(step.args[4]), state):
        t.copy_(s)
print("the gradients bit-equal:", all(torch.equal(a, b) for a, b in zip(outs["in force"], outs[OTHER])))
runs = {label: tune._running(plans, step, installed) for label, plans in (("in force", now), (OTHER, by_k))}
t = collections.defaultdict(list)
t0 = time.time()
while time.time() - t0 < seconds:
    a = place(rtt())
    got = {}
    for label, run in sorted(runs.items(), key=lambda kv: os.urandom(1)):
        run(); ts = []
        for _ in range(10):
            s = time.perf_counter(); run(); ts.append((time.perf_counter() - s) * 1e6)
        got[label] = statistics.median(ts)
    b = place(rtt())
    if a and a == b:
        for label in runs: t[a, label].append(got[label])
for where in ("near", "far"):
    base = t[where, "in force"]
    if base:
        k = t[where, OTHER]
        print(f"float32 batch {bs} {where} ({len(base)} rounds): in force {statistics.median(base):.1f} us, fc1 dW by {split} "
              f"{statistics.median(k):.1f} us (paired {statistics.median([p / q for p, q in zip(k, base)]):.3f})")
tune._reinstall()
