"""The AVX-512 outer kernel's 8 x 32 tile against an 8 x 48 one (MCLF_NR48=1, nr48.patch), alternating blocks in one
process, after checking both give the same bits: fc1's dW and forward alone (own_mm_plan, 1 and 2 threads), and the
one-call SGD step on bench's operands (tuned plans).   python nr48_ab.py BATCH ..."""
import os, statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.config import MLPConfig
from minitorch_clf.ops import tune
ops.load(); d = ops.direct()

def ab(name, f, reps, check=None):
    outs = {}
    for m in ("0", "1"):
        os.environ["MCLF_NR48"] = m
        outs[m] = check() if check else None
    same = check is None or all(torch.equal(a, b) for a, b in zip(outs["0"], outs["1"]))
    t = {"0": [], "1": []}
    for m in ("0", "1"):
        os.environ["MCLF_NR48"] = m
        for _ in range(reps): f()
    for blk in range(20):
        for m in (("0", "1") if blk % 2 else ("1", "0")):
            os.environ["MCLF_NR48"] = m
            t0 = time.perf_counter()
            for _ in range(reps): f()
            t[m].append((time.perf_counter() - t0) / reps * 1e6)
    r = statistics.median(b / a for a, b in zip(t["0"], t["1"]))
    print(f"{name}: 8x32 {statistics.median(t['0']):.1f} us, 8x48 {statistics.median(t['1']):.1f} us, 8x48/8x32 {r:.3f}, same bits {same}", flush=True)

for N in (int(a) for a in sys.argv[1:]):
    torch.manual_seed(0)
    x = torch.rand(N, 784); dz = torch.randn(N, 128) * 1e-3; W = torch.randn(128, 784) * 0.03
    reps = max(5, 20000 // N)
    for th in (1, 2):
        for split in (0, 1):
            plan = [1, 1, 192, th, split]
            if th == 1 and split == 1: continue
            ab(f"batch {N} fc1 dW {th}t {'cols' if split == 0 else 'rows'}", lambda: d.own_mm_plan(dz.t(), x, plan), reps,
               lambda: [d.own_mm_plan(dz.t(), x, plan)])
            ab(f"batch {N} fc1 y {th}t {'cols' if split == 0 else 'rows'}", lambda: d.own_mm_plan(x, W.t(), plan), reps,
               lambda: [d.own_mm_plan(x, W.t(), plan)])
    tune.ensure(N, MLPConfig().sizes, log=lambda m: None)
    _, (acts, weights, _) = tune.step_products(N, MLPConfig().sizes)
    step = tune.sgd_step(acts, weights)
    ab(f"batch {N} step (tuned plans)", lambda: d.sgd_step(*step.args), reps)
