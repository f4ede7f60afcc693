"""Full MNIST, SGD lr 0.01 momentum 0.9, batch 64: per epoch the time of train_epoch and the subnormal
float32 counts in weights and momentum buffers."""
import os, sys, time, torch
if os.environ.get("FTZ"): torch.set_flush_denormal(True)
from minitorch_clf import data
from minitorch_clf.engines import build_engine
engine_name = sys.argv[1]; epochs = int(sys.argv[2])
train, _ = data.load("mnist", sys.argv[3] if len(sys.argv) > 3 else "/tmp/mn")   # scripts/fetch_mnist.sh DIR
x = ((train.images.float() / 255 - train.mean) / train.std).reshape(len(train), -1)
y = train.labels
e = build_engine(engine_name, optimizer="sgd", lr=0.01, momentum=0.9)
tiny = torch.finfo(torch.float32).tiny
def sub(t): return int(((t != 0) & (t.abs() < tiny)).sum())
g = torch.Generator().manual_seed(0)
for ep in range(epochs):
    order = torch.randperm(len(y), generator=g)
    t0 = time.perf_counter(); losses = e.train_epoch(x, y, order, 64); dt = time.perf_counter() - t0
    opt = e.optimizer
    bufs = [opt.state[p].get("momentum_buffer") for p in opt.param_groups[0]["params"]]
    print(f"{engine_name} epoch {ep+1}: {dt*1e3:.0f} ms, loss {losses[-50:].mean():.4f}, subnormal in momentum buffers {[sub(b) for b in bufs if b is not None]}, in weights {[sub(p) for p in opt.param_groups[0]['params']]}", flush=True)
