"""The op call of the one-call SGD step with warm and with cold caches: mlp_sgd_step_ on a tiny MLP (8-8-8-4, batch
2: its C++ work is a few microseconds), timed alone, then with 0.25 to 4 MB of a tensor touched (add_) between
steps; the step's share of the pair is (pair - add_ alone). From Python, through torch.ops, as bench's step row.
    python op_call_cold.py 2"""
import sys, time, torch, functools
from minitorch_clf import ops
ops.load()
lib = torch.ops.minitorch_clf
B = int(sys.argv[1])
sizes = (8, 8, 8, 4)
W = [torch.randn(o, i) * 0.1 for i, o in zip(sizes[:-1], sizes[1:])]
Bs = [torch.zeros(w.shape[0]) for w in W]
bufs = [torch.zeros_like(p) for w, b in zip(W, Bs) for p in (w, b)]
x = torch.randn(B, sizes[0]); y = torch.randint(0, sizes[-1], (B,))
step = functools.partial(lib.mlp_sgd_step_, x, y, W, Bs, bufs, "relu", 1e-12, 0.9, 0.0, 0.0, False, False)
op = lib.mlp_sgd_step_.default
step2 = functools.partial(op, x, y, W, Bs, bufs, "relu", 1e-12, 0.9, 0.0, 0.0, False, False)
for name, f in [("packet", step), ("overload .default", step2)]:
    for _ in range(21000): f()
    best = 1e9
    for r in range(7):
        t0 = time.perf_counter()
        for _ in range(2000): f()
        best = min(best, (time.perf_counter() - t0) / 2000)
    print(f"{name}: {best*1e6:.2f} us per step (sizes {sizes}, batch {B})")
for mb in (0.25, 1, 2, 4):
    big = torch.zeros(int(mb * 262144))
    g = lambda: big.add_(1.0)
    def both(): g(); step2()
    res = {}
    for name, f in [("evict alone", g), ("step + evict", both), ("evict alone", g)]:
        for _ in range(500): f()
        best = 1e9
        for r in range(7):
            t0 = time.perf_counter()
            for _ in range(1000): f()
            best = min(best, (time.perf_counter() - t0) / 1000)
        res[name] = best
    print(f"{mb} MB touched between steps: step costs {(res['step + evict'] - res['evict alone'])*1e6:.2f} us (evict alone {res['evict alone']*1e6:.1f})")
