import os, torch
from minitorch_clf import ops
ops.load()
g = torch.Generator().manual_seed(0)
bad = 0
for (M, N, K) in [(128, 784, 1024), (128, 784, 256), (128, 784, 64), (37, 99, 300), (64, 784, 512), (128, 800, 700), (16, 50, 1000), (8, 784, 64)]:
    a = torch.randn(K, M, generator=g).t(); b = torch.randn(K, N, generator=g)
    outs = []
    for v in ["-", "1"]:
        os.environ.pop("MCLF_BCOPY", None)
        if v != "-": os.environ["MCLF_BCOPY"] = v
        outs.append(ops.own_mm(a, b))
    ref = a.double() @ b.double()
    print(M, N, K, [torch.equal(outs[0], o) for o in outs[1:]], float((outs[1].double() - ref).abs().max()))
