"""engine.step of the fused engine at batch 1 and 64 against mlp_sgd_step_ with arguments built once, and the
layers of Python between them, timed in turns (minimum of 7 rounds of 2,000 calls)."""
import time, torch
from minitorch_clf.engines import build_engine
for B in (1, 64):
    e = build_engine("fused", lr=1e-12)
    x = torch.rand(B, 1, 28, 28); y = torch.randint(0, 10, (B,))
    for _ in range(20): e.step(x, y)
    args = e._one_call_args(); xf = x.reshape(B, -1)
    op = torch.ops.minitorch_clf.mlp_sgd_step_
    def below(f):
        def g():
            with torch._C._AutoDispatchBelowAutograd(): return f()
        return g
    calls = {
        "op, args built once": lambda: op(xf, y, *args),
        "op below autograd": below(lambda: op(xf, y, *args)),
        "+ args each call": below(lambda: op(xf, y, *e._one_call_args())),
        "+ reshape": below(lambda: op(x.reshape(B, -1), y, *e._one_call_args())),
        "_one_call_step": lambda: e._one_call_step(x, y),
        "_step": lambda: e._step(x, y),
        "step": lambda: e.step(x, y),
    }
    res = {k: [] for k in calls}
    for r in range(7):
        for k, f in calls.items():
            t0 = time.perf_counter()
            for _ in range(2000): f()
            res[k].append((time.perf_counter() - t0) / 2000 * 1e6)
    print(B, "  ".join(f"{k} {min(v):.1f}" for k, v in res.items()))
