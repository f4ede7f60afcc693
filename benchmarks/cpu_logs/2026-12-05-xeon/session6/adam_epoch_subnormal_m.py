import time, torch, sys
from minitorch_clf.engines import build_engine
from minitorch_clf import data as D
split = D.synthetic_mnist(60000)
loader = D.TensorLoader(split, 64, seed=0)
for lr in (0.01, 1e-3):
    e = build_engine("fused", optimizer="adam", lr=lr, seed=0)
    out = []
    for ep in range(3):
        t = time.perf_counter()
        losses = e.train_epoch(loader.x, loader.y, loader.order(ep), 64)
        p = e.predict(loader.x[:1000]).softmax(1)
        sub = ((p != 0) & (p < torch.finfo(torch.float32).tiny)).float().mean().item()
        out.append(f"{time.perf_counter()-t:.3f}s loss {losses.mean():.2f} last {losses[-1]:.2f} subnormal p {sub:.3f}")
    print("adam lr", lr, " | ".join(out))
tiny = torch.finfo(torch.float32).tiny
sub = lambda t: ((t != 0) & (t.abs() < tiny)).float().mean().item()
st = e.optimizer.state_dict()["state"]
for i, p in enumerate(e.model.parameters()):
    print(i, tuple(p.shape), f"param {sub(p):.4f} m {sub(st[i]['exp_avg']):.4f} v {sub(st[i]['exp_avg_sq']):.4f}")
h = loader.x[:1000].reshape(1000, -1)
for k, layer in enumerate(e.linears):
    h = layer(h); print("act", k, f"{sub(h):.4f}", "zeros", f"{(h == 0).float().mean():.3f}")
    if k < 2: h = h.relu()
h = loader.x[:1000].reshape(1000, -1)
for k, layer in enumerate(e.linears[:2]):
    h = layer(h).relu()
    print(f"layer {k + 1}: units whose ReLU output is 0 on all 1,000 samples: {(h == 0).all(0).float().mean():.3f}")
