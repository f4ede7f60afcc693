import time, statistics, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
from minitorch_clf.engines import build_engine
from minitorch_clf.config import MLPConfig
ops.load()
eng = build_engine("fused", lr=1e-12, momentum=0.9, seed=0)
x = torch.randn(1, 1, 28, 28); y = torch.randint(0, 10, (1,))
for _ in range(20): eng.step(x, y)
args = (x.reshape(1, -1), y, *eng._one_call_args())
op = torch.ops.minitorch_clf.mlp_sgd_step_
calls = {"engine.step": lambda: eng.step(x, y), "op, args once": lambda: op(*args)}
s = tune.interleaved_samples(calls, 31)
print({k: f"min {min(v)*1e6:.1f} med {statistics.median(v)*1e6:.1f}" for k, v in s.items()})
