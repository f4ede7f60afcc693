"""The VM's spread between processes: the fused engine's epoch (60,000 synthetic images, batch 64, SGD, the
tensor loader, one C++ call an epoch) five times in one process, the same seeds in every process.
    for i in 1 2 3 4 5 6; do python epoch_spread.py; done"""
import time
import torch
from minitorch_clf import data as D
from minitorch_clf.tools.bench import _build

split = D.synthetic_mnist(60000)
eng = _build("fused", torch.device("cpu"), "sgd", None)
loader = D.make_loader("tensor", split, 64, device=torch.device("cpu"), seed=0)
for x, y in list(loader.epoch(0))[:3]:
    eng.step(x, y)
eng.prepare_epoch(loader.x, loader.y, 64)
times = []
for r in range(5):
    t = time.perf_counter()
    eng.train_epoch(loader.x, loader.y, loader.order(1 + r), 64)
    times.append(time.perf_counter() - t)
print("epochs", " ".join(f"{s:.3f}" for s in times), "s")
