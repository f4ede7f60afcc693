import time, statistics, random, torch
from minitorch_clf.engines import build_engine
g = torch.Generator().manual_seed(0)
for bs in (64, 1024):
    x, y = torch.randn(bs, 784, generator=g), torch.randint(0, 10, (bs,), generator=g)
    engs = {}
    for name, opt, whole in (("sgd one call", "sgd", True), ("adam layered", "adam", False), ("adam one call", "adam", True)):
        e = build_engine("fused", optimizer=opt, lr=1e-5, momentum=0.9, seed=0) if opt == "sgd" else build_engine("fused", optimizer=opt, lr=1e-5, seed=0)
        e.whole_step = whole and e.whole_step
        engs[name] = e
    n = 20000 // bs + 20
    for e in engs.values():
        for _ in range(n): e.step(x, y)
    ts = {k: [] for k in engs}
    for r in range(7):
        keys = list(engs); random.shuffle(keys)
        for k in keys:
            t = time.perf_counter()
            for _ in range(n): engs[k].step(x, y)
            ts[k].append((time.perf_counter() - t) / n * 1e6)
    print(bs, " | ".join(f"{k} {statistics.median(v):.1f} us" for k, v in ts.items()))
