import time, statistics, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load()
lib = torch.ops.minitorch_clf
for n in (1, 64, 1024):
    z = torch.randn(n, 10); y = torch.randint(0, 10, (n,))
    a1 = torch.ones(1, 1)
    s = tune.interleaved_samples({"ce": lambda: lib.cross_entropy_forward_backward(z, y, -100), "empty op": lambda: lib.own_mm(a1, a1, "auto")}, 31)
    print(n, {k: f"min {min(v)*1e6:.2f} med {statistics.median(v)*1e6:.2f}" for k, v in s.items()})
