import torch, sys
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load(); lib = torch.ops.minitorch_clf
tiny = torch.finfo(torch.float32).tiny
def sub(t): return int(((t != 0) & (t.abs() < tiny)).sum())
for lr in (1e-6, 1e-12):
  for B in (1, 4, 16, 64):
    _, (acts, weights, _) = tune.step_products(B, (784, 128, 64, 10))
    ws = [w.clone() for w in weights]; bs = [torch.zeros(w.shape[0]) for w in ws]
    bufs = [torch.zeros_like(p) for w, b in zip(ws, bs) for p in (w, b)]
    x = acts[0]; y = torch.randint(0, 10, (B,), generator=torch.Generator().manual_seed(1))
    first = None; n = 0
    for block in range(20):
        for _ in range(250): loss = lib.mlp_sgd_step_(x, y, ws, bs, bufs, "relu", lr, 0.9, 0.0, 0.0, False, False)
        n += 250
        s = sum(sub(b) for b in bufs)
        if s and first is None: first = n
    print(f"lr {lr} batch {B}: loss after {n} steps {float(loss):.3f}; first subnormal buffer entries by step {first}; at the end {s}")
