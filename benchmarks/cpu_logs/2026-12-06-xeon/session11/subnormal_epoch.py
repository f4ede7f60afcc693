import time, torch
from minitorch_clf.engines import build_engine
torch.manual_seed(0)
import os
if os.environ.get("FTZ"): torch.set_flush_denormal(True)
n = int(__import__("sys").argv[1])
x = torch.rand(n, 784); y = torch.randint(0, 10, (n,))
eng = build_engine("fused", optimizer="sgd", lr=0.01, momentum=0.9, device="cpu", seed=0)
eng.train_epoch(x, y, torch.randperm(n), 1)
t0 = time.perf_counter(); eng.train_epoch(x, y, torch.randperm(n), 1); print(n, (time.perf_counter() - t0) / n * 1e6, "us/step")
t0 = time.perf_counter(); eng.train_epoch(x, y, torch.arange(n), 1); print(n, "arange", (time.perf_counter() - t0) / n * 1e6, "us/step")
