"""engine.step against mlp_sgd_step_ called with the engine's own tensors, and the pieces of Python around it (lr 1e-12)."""
import time, torch
from minitorch_clf.engines import build_engine
for B in (1, 64):
    e = build_engine("fused", lr=1e-12)
    x = torch.rand(B, 1, 28, 28); y = torch.randint(0, 10, (B,))
    for _ in range(20): e.step(x, y)
    args = e._one_call_args(); xf = x.reshape(B, -1)
    op = torch.ops.minitorch_clf.mlp_sgd_step_
    def t(f, n=3000):
        s = []
        for r in range(7):
            t0 = time.perf_counter()
            for _ in range(n): f()
            s.append((time.perf_counter() - t0) / n * 1e6)
        return min(s)
    for r in range(2):
        print(B, f"engine.step {t(lambda: e.step(x, y)):.1f} us   op alone {t(lambda: op(xf, y, *args)):.1f} us   check_batch {t(lambda: e.check_batch(x, y)):.1f}  args {t(lambda: e._one_call_args()):.1f}  momentum_ready {t(lambda: e._momentum_ready()):.1f} tune {t(lambda: e._tune(B)):.2f} prec {t(lambda: e._precision()):.2f}")
