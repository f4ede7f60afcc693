"""What engine.step adds to the op it calls, layer by layer, timed in turns in one process (fused engine, SGD
momentum, CPU, after its first steps): each variant adds one piece of engine.step's path to the one before."""
import statistics, sys, time, torch
from minitorch_clf.engines import build_engine
bs = int(sys.argv[1])
eng = build_engine("fused", optimizer="sgd", lr=1e-12, momentum=0.9, device="cpu", seed=0)
x = torch.randn(bs, 784); y = torch.randint(0, 10, (bs,))
for _ in range(20): eng.step(x, y)
op = torch.ops.minitorch_clf.mlp_sgd_step_
args = eng._one_call_args()
below = torch._C._AutoDispatchBelowAutograd
def a(): return op(x, y, *args)
def b():
    with below(): return op(x, y, *args)
def c():
    with below(): return op(x.reshape(x.shape[0], -1), y, *args)
def d():
    with below(): return op(x.reshape(x.shape[0], -1), y, *eng._one_call_args())
def e():
    if not eng._momentum_ready(): raise SystemExit
    with below(): return op(x.reshape(x.shape[0], -1), y, *eng._one_call_args())
def f(): return eng._one_call_step(x, y)
def g(): return eng._step(x, y)
def h(): return eng.step(x, y)
calls = {"op": a, "+ below autograd": b, "+ reshape": c, "+ args built": d, "+ momentum check": e,
         "_one_call_step": f, "_step (tune, precision)": g, "step (batch checks)": h}
samples = {k: [] for k in calls}
n = 200
import random
rng = random.Random(0)
for r in range(21):
    for k in rng.sample(list(calls), len(calls)):
        t0 = time.perf_counter()
        for _ in range(n): calls[k]()
        samples[k].append((time.perf_counter() - t0) / n * 1e6)
base = statistics.median(samples["op"])
for k, v in samples.items():
    m = statistics.median(v)
    print(f"batch {bs:4d}  {k:26s} {m:7.1f} us  (+{m - base:5.1f})")
