"""The GEMM's products of several shapes with a build switch (an environment variable read at each call) at each
value: bit for bit the same as with it unset, and each printed with its worst error against a float64 product.
    python switch_check.py VAR VALUES        (VALUES comma-separated, e.g. EDGE_SPLIT 1,2 or MCLF_BCOPY 1)"""
import os, sys, torch
from minitorch_clf import ops
ops.load()
var, values = sys.argv[1], sys.argv[2].split(",")
g = torch.Generator().manual_seed(0)
for (M, N, K) in [(128, 784, 1024), (128, 784, 256), (128, 784, 64), (37, 99, 300), (64, 784, 512), (128, 800, 700),
                  (16, 50, 1000), (8, 784, 64)]:
    a = torch.randn(K, M, generator=g).t(); b = torch.randn(K, N, generator=g)
    os.environ.pop(var, None)
    base = ops.own_mm(a, b)
    same = []
    for v in values:
        os.environ[var] = v
        same.append(torch.equal(base, ops.own_mm(a, b)))
    os.environ.pop(var, None)
    print(M, N, K, "same bits:", same, "worst error:", float((base.double() - a.double() @ b.double()).abs().max()))
