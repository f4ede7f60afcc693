"""The bias gradient's pass alone (the op linear_backward with I = 1, so that its dW product is a (O, 1) one and
the pass's dout stays in cache), profiler scope means over 200 calls, at batch N (default 1024)."""
import torch, sys
from minitorch_clf import ops
ops.load()
torch.manual_seed(0)
N = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
for O, I in [(128, 1), (64, 1), (10, 1)]:
    dout = torch.randn(N, O); x = torch.randn(N, I); W = torch.randn(O, I); saved = torch.randn(N, O)
    for _ in range(20): ops.linear_backward(dout, x, W, saved, "identity", False)
    with torch.profiler.profile() as p:
        for _ in range(200): ops.linear_backward(dout, x, W, saved, "identity", False)
    for e in p.key_averages():
        if "bias gradient" in e.key or "dW product" in e.key:
            print(N, O, I, e.key, round(e.cpu_time_total / e.count, 2), "us")
