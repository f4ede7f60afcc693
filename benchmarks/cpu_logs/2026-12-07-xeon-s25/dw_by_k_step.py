"""The one-call SGD step at batch B on the derived plans against the same plans with fc1's dW cut along K
(`tune.medians` in turns, 31 rounds, each sample at least 6 steps; three repeats). The momentum buffers after one
step from zero (the gradients: at the timed STEP_LR the weights do not move) say whether the cut changed the sums.
    python dw_by_k_step.py B [B ...]"""
import dataclasses, sys, torch
from minitorch_clf import ops
from minitorch_clf.config import MLPConfig
from minitorch_clf.ops import tune

ops.load()
for bs in map(int, sys.argv[1:]):
    products, (acts, weights, _) = tune.step_products(bs, MLPConfig().sizes)
    names = [(name, tune.Shape.of(a, b)) for name, a, b in products]
    derived = {shape: tune.derived_plan(shape) for _, shape in names}
    fc1_dw = next(shape for name, shape in names if name.startswith("fc1 dW"))
    by_k = {**derived, fc1_dw: dataclasses.replace(derived[fc1_dw], split="k")}
    step, installed = tune.sgd_step(acts, weights), [None]
    outs = {}
    for label, plans in (("derived", derived), ("fc1 dW by k", by_k)):
        state = [t.clone() for t in step.args[2]] + [t.clone() for t in step.args[4]]
        tune._running(plans, step, installed)()
        outs[label] = [t.clone() for t in step.args[4]]
        for t, s in zip(list(step.args[2]) + list(step.args[4]), state):
            t.copy_(s)
    same = all(torch.equal(a, b) for a, b in zip(outs["derived"], outs["fc1 dW by k"]))
    print(f"batch {bs}: fc1's dW {derived[fc1_dw]} -> {by_k[fc1_dw]}; the gradients bit-equal: {same}")
    for rep in range(3):
        t = tune.medians({"derived": tune._running(derived, step, installed),
                          "fc1 dW by k": tune._running(by_k, step, installed)}, 31, 2e-3, 6)
        print(f"batch {bs} repeat {rep + 1}: derived {t['derived'] * 1e6:.1f} us, fc1 dW by k {t['fc1 dW by k'] * 1e6:.1f} us"
              f" ({t['fc1 dW by k'] / t['derived']:.3f})")
    tune._reinstall()
