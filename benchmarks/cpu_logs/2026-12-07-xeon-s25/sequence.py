"""Each of the step's eight products at batch B (bench's operands, the plans in force: tune.ensure first) timed
alone, each call repeated, against the same call inside the eight run back to back in the step's order (fc1 y, fc2 y,
fc3 y, fc3 dx, fc3 dW, fc2 dx, fc2 dW, fc1 dW), every call timed by itself; own_mm_plan from Python, so each call
carries the same few microseconds of call either way. 15 rounds, alone and in sequence in turns; medians.
    python sequence.py B"""
import statistics
import sys
import time

import torch

from minitorch_clf import ops
from minitorch_clf.config import MLPConfig
from minitorch_clf.ops import tune

ORDER = ["fc1 y", "fc2 y", "fc3 y", "fc3 dx", "fc3 dW", "fc2 dx", "fc2 dW", "fc1 dW"]


def main(batch: int):
    ops.load()
    tune.ensure(batch, MLPConfig().sizes)
    products, _ = tune.step_products(batch, MLPConfig().sizes)
    by_name = {name.split(" =")[0]: (a, b, tune.plan_in_force(tune.Shape.of(a, b))[0].ints()) for name, a, b in products}
    mm = torch.ops.minitorch_clf.own_mm_plan
    calls = [(name, *by_name[name]) for name in ORDER]
    reps = max(5, 8000 // batch)
    alone = {name: [] for name in ORDER}
    inside = {name: [] for name in ORDER}
    for rnd in range(15):
        for mode in (("alone", "sequence") if rnd % 2 else ("sequence", "alone")):
            if mode == "alone":
                for name, a, b, plan in calls:
                    mm(a, b, plan)
                    t0 = time.perf_counter()
                    for _ in range(reps):
                        mm(a, b, plan)
                    alone[name].append((time.perf_counter() - t0) / reps)
            else:
                spent = {name: 0.0 for name in ORDER}
                for rep in range(reps + 1):
                    for name, a, b, plan in calls:
                        t0 = time.perf_counter()
                        mm(a, b, plan)
                        if rep:                       # the first pass warms up
                            spent[name] += time.perf_counter() - t0
                for name in ORDER:
                    inside[name].append(spent[name] / reps)
    total_a = total_s = 0.0
    for name, a, b, plan in calls:
        ta, ts = statistics.median(alone[name]), statistics.median(inside[name])
        total_a, total_s = total_a + ta, total_s + ts
        print(f"batch {batch} {name:7s} {tune.Plan.from_ints(plan)!s:32s} alone {ta * 1e6:7.1f} us  in sequence "
              f"{ts * 1e6:7.1f} us  ({ts / ta:.2f}x)")
    print(f"batch {batch} the eight    alone {total_a * 1e6:7.1f} us  in sequence {total_s * 1e6:7.1f} us  "
          f"({total_s / total_a:.2f}x)")


if __name__ == "__main__":
    main(int(sys.argv[1]))
