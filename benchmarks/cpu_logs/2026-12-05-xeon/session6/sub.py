import time, torch, sys
from minitorch_clf.engines import build_engine
torch.set_flush_denormal(sys.argv[1] == "ftz")
for name in ("fused", "reference"):
    e = build_engine(name, optimizer="adam", lr=0.01, seed=0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g)
    out = []
    for blk in range(6):
        t = time.perf_counter()
        for _ in range(100): loss = e.step(x, y)
        out.append(f"{(time.perf_counter()-t)/100*1e6:.0f}us loss {loss.item():.2e}")
    print(sys.argv[1], name, " | ".join(out))
