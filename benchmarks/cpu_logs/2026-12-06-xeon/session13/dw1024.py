import sys, time, torch
from minitorch_clf import ops
ops.load()
bs = int(sys.argv[2])
torch.manual_seed(0)
x = torch.randn(bs, 784); dz = torch.randn(bs, 128)
f = {"own": lambda: ops.own_mm(dz.t(), x), "mkl": lambda: torch.mm(dz.t(), x)}[sys.argv[1]]
for _ in range(5): f()
ts = []
for _ in range(int(sys.argv[3]) if len(sys.argv) > 3 else 30):
    t0 = time.perf_counter(); f(); ts.append((time.perf_counter() - t0) * 1e6)
ts.sort(); fl = 2 * bs * 784 * 128
print(sys.argv[1], torch.get_num_threads(), f"min {ts[0]:.0f} med {ts[15]:.0f} us, {fl / ts[15] / 1e3:.0f} GFLOP/s")
