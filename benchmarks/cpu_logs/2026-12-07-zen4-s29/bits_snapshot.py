"""The bf16 kernel's products (vdpbf16ps, ops.own_mm under ops.precision('bf16')) and the bf16 one-call step on a
set of shapes and layouts, saved (save FILE) or compared bit for bit with a saved set (check FILE): a change to the
packing that must keep every bit is checked against the build before it. Inputs carry NaN, infinities, subnormals,
exact ties and values past bf16's largest.
    python bits_snapshot.py save|check FILE"""
import sys, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
sys.path.insert(0, "tests")
from test_gemm import layout

mode, path = sys.argv[1], sys.argv[2]
g = torch.Generator().manual_seed(11)
out = {}
with ops.precision("bf16"), ops.bf16_kernel("avx512bf16"):
    for m, k, n in [(1, 1, 1), (7, 3, 5), (8, 32, 32), (9, 33, 17), (16, 31, 16), (17, 64, 48), (33, 17, 45),
                    (64, 784, 128), (130, 513, 70), (1024, 64, 10), (1024, 10, 64), (128, 1024, 784), (40, 1100, 33),
                    (255, 129, 65)]:
        a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
        a.view(-1)[:: 7] *= 1e-39                                   # subnormals
        a.view(-1)[3 :: 29] = 1 + 2**-8                             # exact ties
        b.view(-1)[1 :: 31] = -(1 + 3 * 2**-8)
        if a.numel() > 40:
            a.view(-1)[40] = float("nan"); a.view(-1)[20] = 3.3999e38; b.view(-1)[-1] = float("inf")
        for la, lb in [("row", "col"), ("col", "row"), ("row", "row"), ("strided", "offset"), ("col", "col")]:
            out[f"{m}x{k}x{n} {la} {lb}"] = ops.own_mm(layout(a, la), layout(b, lb))
    lib = torch.ops.minitorch_clf
    for bs in (1, 63, 64, 257, 1024):
        torch.manual_seed(bs)
        x, y = torch.randn(bs, 784), torch.randint(0, 10, (bs,))
        W = [torch.randn(128, 784) * 0.03, torch.randn(64, 128) * 0.09, torch.randn(10, 64) * 0.1]
        B = [torch.zeros(w.shape[0]) for w in W]
        bufs = [torch.zeros_like(t) for p in zip(W, B) for t in p]
        losses = [lib.mlp_sgd_step_(x, y, W, B, bufs, "relu", 0.01, 0.9, 0.0, 0.0, False, False) for _ in range(3)]
        out[f"step {bs}"] = torch.cat([torch.stack(losses).view(-1)] + [t.reshape(-1) for t in W + B])
if mode == "save":
    torch.save(out, path); print(f"saved {len(out)} results")
else:
    ref = torch.load(path)
    bad = [key for key, v in out.items() if not torch.equal(v.nan_to_num(), ref[key].nan_to_num()) or not torch.equal(v.isnan(), ref[key].isnan())]
    print(f"{len(out) - len(bad)} of {len(out)} bit for bit the same" + (f"; differ: {bad}" if bad else ""))
    sys.exit(1 if bad else 0)
