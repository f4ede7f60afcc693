import os, sys, time, statistics, contextlib, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load()
SIZES = (784, 128, 64, 10)
def timeit(step, n):
    t = time.perf_counter()
    for _ in range(n): step()
    return (time.perf_counter() - t) / n * 1e6
for bs in [int(a) for a in sys.argv[1:]] or [64, 1024]:
    tune.ensure(bs, SIZES)
    for prec in ("float32", "bf16"):
        ctx = ops.precision("bf16") if prec == "bf16" else contextlib.nullcontext()
        with ctx:
            _, (acts, weights, _) = tune.step_products(bs, SIZES)
            step = tune.sgd_step(acts, weights)
            n = max(20, 20000 // bs)
            for _ in range(10): step()
            res = {"off": [], "on": []}
            for r in range(15):
                for mode in (("off", "on") if r % 2 == 0 else ("on", "off")):
                    if mode == "off": os.environ["MTC_AB_OFF"] = "1"
                    else: os.environ.pop("MTC_AB_OFF", None)
                    res[mode].append(timeit(step, n))
            os.environ.pop("MTC_AB_OFF", None)
            off, on = statistics.median(res["off"]), statistics.median(res["on"])
            print(f"batch {bs} {prec}: update pass {off:.1f} us, in the dW epilogue {on:.1f} us: {off/on:.3f}x  "
                  f"(ranges {min(res['off']):.1f}-{max(res['off']):.1f} / {min(res['on']):.1f}-{max(res['on']):.1f})", flush=True)
