"""fc1's products with W as nn.Linear lays it out and with Wᵀ contiguous (the tried, not kept layout), own_mm on the
derived plans (no tuning in this process) and torch.mm (MKL), best of 7 rounds of 300 calls from Python."""
import time, torch
from minitorch_clf import ops
ops.load(); lib = torch.ops.minitorch_clf
g = torch.Generator().manual_seed(0)
for B in (64, 1024):
    x = torch.rand(B, 784, generator=g); dz = torch.randn(B, 128, generator=g); W = torch.randn(128, 784, generator=g)
    Wt = W.t().contiguous()
    def t(f, n=300):
        best = 1e9
        for r in range(7):
            t0 = time.perf_counter()
            for _ in range(n): f()
            best = min(best, (time.perf_counter() - t0) / n * 1e6)
        return best
    a = lib.own_mm(dz.t(), x, "auto"); b = lib.own_mm(x.t(), dz, "auto")
    print(B, "dW bits equal", torch.equal(a, b.t()), "max diff", (a - b.t()).abs().max().item())
    print(B, f"dW = dzT x {t(lambda: lib.own_mm(dz.t(), x, 'auto')):.1f} us   dWT = xT dz {t(lambda: lib.own_mm(x.t(), dz, 'auto')):.1f} us  mkl dW {t(lambda: torch.mm(dz.t(), x)):.1f} mkl dWT {t(lambda: torch.mm(x.t(), dz)):.1f}")
    print(B, f"y = x W^T strided {t(lambda: lib.own_mm(x, W.t(), 'auto')):.1f} us   contiguous Wt {t(lambda: lib.own_mm(x, Wt, 'auto')):.1f} us  mkl {t(lambda: torch.mm(x, W.t())):.1f} mkl Wt {t(lambda: torch.mm(x, Wt)):.1f}")
    for shp in ([128, 784, B, 1, 0], [784, 128, B, 1, 0], [B, 128, 784, 0, 1], [B, 128, 784, 0, 0]):
        print(shp, lib.gemm_plan(shp, "auto"))
