import torch, time
torch.manual_seed(0)
x = torch.randn(1024, 784); w = torch.randn(128, 784); dz = torch.randn(1024, 128)
xb, wb, dzb = x.bfloat16(), w.bfloat16(), dz.bfloat16()
def t(f, n=300):
    for _ in range(20): f()
    best = 1e9
    for r in range(7):
        t0 = time.perf_counter()
        for _ in range(n): f()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6
fl = 2 * 1024 * 784 * 128
for name, f in [("onednn bf16 fwd x@w.T", lambda: torch.mm(xb, wb.t())),
                ("onednn bf16 dW dz.T@x", lambda: torch.mm(dzb.t(), xb)),
                ("mkl f32 fwd", lambda: torch.mm(x, w.t())),
                ("mkl f32 dW", lambda: torch.mm(dz.t(), x)),
                ("f32->bf16 convert x", lambda: x.bfloat16())]:
    us = t(f); print(f"{name:28s} {us:8.1f} us  {fl/us/1e3:7.0f} GFLOP/s")
