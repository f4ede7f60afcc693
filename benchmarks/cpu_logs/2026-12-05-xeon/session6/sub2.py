import time, torch, sys
from minitorch_clf.engines import build_engine
bs = int(sys.argv[1])
for name in ("fused", "reference"):
    e = build_engine(name, optimizer="sgd", lr=0.01, momentum=0.9, seed=0)
    g = torch.Generator().manual_seed(bs)
    x, y = torch.randn(bs, 1, 28, 28, generator=g), torch.randint(0, 10, (bs,), generator=g)
    out = []
    for blk in range(8):
        t = time.perf_counter()
        for _ in range(100): loss = e.step(x, y)
        out.append(f"{(time.perf_counter()-t)/100*1e6:.0f}us {loss.item():.1e}")
    print(name, bs, " | ".join(out))
