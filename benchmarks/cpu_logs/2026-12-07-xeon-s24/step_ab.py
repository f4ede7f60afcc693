"""The one-call SGD step (bench's step operands, the tuned plans) in modes set by environment variables, in
alternating blocks in one process (30 blocks of max(20, 6400 / BATCH) steps per mode; medians, and the median of
each mode's block-by-block ratio to the first mode's). Every mode's loss and weights after one step from the same
state are checked against the first mode's (`same bits`), except the modes named by --bound, which are not a step.

For this folder's probes: apply the probe's patch (its switches read the environment), rebuild, then e.g.
    python step_ab.py --mode now: --mode cols:RIDE_COLS=1 --mode noop:RIDE_COLS=1,PF_NEXT=9 --bound noop 1024 64
A mode is NAME:VAR=VALUE,VAR=VALUE (NAME: alone sets nothing); a variable that another mode names and this one
does not is removed from the environment while this mode runs (every switch is off unless set to 1 or more)."""
import argparse
import os
import statistics
import time

import torch

from minitorch_clf import ops
from minitorch_clf.config import MLPConfig
from minitorch_clf.ops import tune


def parse_mode(text):
    name, _, assignments = text.partition(":")
    return name, dict(a.split("=", 1) for a in assignments.split(",") if a)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", action="append", type=parse_mode, required=True)
    parser.add_argument("--bound", action="append", default=[])
    parser.add_argument("batch_sizes", nargs="+", type=int)
    args = parser.parse_args()
    modes = dict(args.mode)
    names = {var for env in modes.values() for var in env}

    def use(mode):
        for var in names:
            os.environ.pop(var, None)
        os.environ.update(modes[mode])

    ops.load()
    direct = ops.direct().sgd_step
    first = next(iter(modes))
    for bs in args.batch_sizes:
        tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
        _, (acts, weights, _) = tune.step_products(bs, MLPConfig().sizes)
        step_args = tune.sgd_step(acts, weights).args
        state = list(step_args[2]) + list(step_args[4])
        start = [t.clone() for t in state]
        outs = {}
        for mode in modes:
            for t, s in zip(state, start):
                t.copy_(s)
            use(mode)
            loss = direct(*step_args)
            outs[mode] = [loss.clone()] + [t.clone() for t in step_args[2]]
        same = all(all(torch.equal(a, b) for a, b in zip(outs[first], outs[m])) for m in modes if m not in args.bound)
        reps = max(20, 6_400 // bs)
        times = {m: [] for m in modes}
        for mode in modes:                          # a warm-up block each
            use(mode)
            for _ in range(reps):
                direct(*step_args)
        order = list(modes)
        for block in range(30):
            for mode in (order if block % 2 else order[::-1]):
                use(mode)
                t0 = time.perf_counter()
                for _ in range(reps):
                    direct(*step_args)
                times[mode].append((time.perf_counter() - t0) / reps * 1e6)
        parts = [f"{m} {statistics.median(v):.1f} us ({statistics.median(b / a for a, b in zip(times[first], v)):.3f})"
                 for m, v in times.items()]
        print(f"batch {bs}: " + ", ".join(parts) + f", same bits {same}", flush=True)


if __name__ == "__main__":
    main()
