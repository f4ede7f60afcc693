import sys, torch
from minitorch_clf.tools import bench
tiny = torch.finfo(torch.float32).tiny
def sub(t): return int(((t != 0) & (t.abs() < tiny)).sum())
for opt in ("sgd", "adam"):
    for B in (1, 4, 16):
        eng = bench._build("fused", torch.device("cpu"), opt, None, lr=float(sys.argv[1]))
        g = torch.Generator().manual_seed(B)
        x, y = torch.randn(B, 1, 28, 28, generator=g), torch.randint(0, 10, (B,), generator=g)
        out = []
        for n in range(1, 13):
            for _ in range(250): loss = eng.step(x, y)
            st = eng.optimizer.state
            s = sum(sub(t) for p in eng.optimizer.param_groups[0]["params"] for t in st[p].values() if isinstance(t, torch.Tensor) and t.is_floating_point())
            out.append(f"{n*250}:{s}")
        print(opt, B, f"loss {float(loss):.3f}", " ".join(out))
