"""With a_lead.patch: chunks of an epoch (mlp_sgd_epoch_, S steps over rows drawn from 60,000) with A_LEAD = 0, 1,
2, and resident steps (one batch, bench's step), in turns in one process; per step, medians of 11 rounds and the
median of each round's ratio to A_LEAD=0.   python epoch_lead.py B   (the ninth session's epoch_prefetch.py, for
another switch)"""
import os
import statistics
import sys
import time

import torch

from minitorch_clf import ops
from minitorch_clf.ops import tune


def main(batch: int, sizes=(784, 128, 64, 10), rows: int = 60_000):
    ops.load()
    tune.ensure(batch, sizes)
    step = tune.sgd_step(*tune.step_products(batch, sizes)[1][:2])
    params = step.args[2:]                      # weights, biases, momentum buffers, then the scalars
    g = torch.Generator().manual_seed(0)
    data, target = torch.rand(rows, 784, generator=g), torch.randint(0, 10, (rows,), generator=g)
    order, steps, start = torch.randperm(rows, generator=g), max(10, 3200 // batch), [0]

    def epoch_chunk():
        k = start[0]
        start[0] = (k + steps * batch) % (rows - steps * batch)
        torch.ops.minitorch_clf.mlp_sgd_epoch_(data, target, order[k:k + steps * batch], batch, True, *params)

    def resident():
        for _ in range(steps):
            step()

    calls = {f"{name}, lead {lead}": (lead, f) for name, f in (("epoch", epoch_chunk), ("resident", resident))
             for lead in "012"}
    per_step = {name: [] for name in calls}
    for r in range(11):
        for name in (list(calls) if r % 2 else list(calls)[::-1]):
            lead, f = calls[name]
            os.environ["A_LEAD"] = lead
            t0 = time.perf_counter()
            f()
            per_step[name].append((time.perf_counter() - t0) / steps * 1e6)
    for name, v in per_step.items():
        base = per_step[name.split(", lead")[0] + ", lead 0"]
        ratio = statistics.median(a / b for a, b in zip(v, base))
        print(f"batch {batch} {name:18s} {statistics.median(v):7.1f} us/step ({min(v):.1f}-{max(v):.1f})  / lead 0: {ratio:.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]))
