"""fc1's dW at batch B as the GEMM runs it now, C (128, 784) = dzᵀ (128, B) · x (B, 784), against the same sums as
C' = dWᵀ (784, 128) = xᵀ (784, B) · dz (B, 128), against dzᵀ copied contiguous, and with two packing orders switched
in (pack_orders.patch): A packed k row by k row rather than tile by tile (PACK_K_OUTER=1), and B packed a K block at a
time, row by row of x (PACKB_ROWS=1); fc1's forward y = x · Wᵀ for scale. own_mm_plan on the AVX-512 outer kernel,
k block 192, on 1 and 2 threads, in turns in one process (median of 15 rounds); each result checked against torch's.
    git apply pack_orders.patch; python dw_orient_pack.py B ...   (without the patch its switched rows are "now")"""
import os, statistics, sys, time, torch
from minitorch_clf import ops
ops.load()
lib = torch.ops.minitorch_clf
COLS, ROWS = 0, 1
for B in (int(a) for a in sys.argv[1:]):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(B, 784, generator=g)
    dz = torch.randn(B, 128, generator=g)
    W = torch.randn(128, 784, generator=g)
    flops = 2 * B * 784 * 128
    for T in (1, 2):
        torch.set_num_threads(T)
        cases = {
            "dW cols (now)": (dz.t(), x, [1, 1, 192, T, COLS]),
            "dW cols, A packed k outer": (dz.t(), x, [1, 1, 192, T, COLS]),
            "dW cols, B packed by rows": (dz.t(), x, [1, 1, 192, T, COLS]),
            "dW rows, B packed by rows": (dz.t(), x, [1, 1, 192, T, ROWS]),
            "dW rows": (dz.t(), x, [1, 1, 192, T, ROWS]),
            "dW, dzT contiguous, cols": (dz.t().contiguous(), x, [1, 1, 192, T, COLS]),
            "dWT = xT dz, rows": (x.t(), dz, [1, 1, 192, T, ROWS]),
            "dWT = xT dz, cols": (x.t(), dz, [1, 1, 192, T, COLS]),
            "y = x WT, rows": (x, W.t(), [1, 1, 192, T, ROWS]),
        }
        ref = dz.t() @ x
        for name, (a, b, plan) in cases.items():
            os.environ["PACKB_ROWS"] = "1" if "by rows" in name else "0"
            out = lib.own_mm_plan(a, b, plan)
            want = ref.t() if name.startswith("dWT") else (x @ W.t() if name.startswith("y") else ref)
            assert torch.allclose(out, want, rtol=1e-4, atol=1e-3), name
        reps = max(5, 20_000 // B)
        t = {n: [] for n in cases}
        for rnd in range(15):
            order = list(cases) if rnd % 2 else list(cases)[::-1]
            for n in order:
                a, b, plan = cases[n]
                os.environ["PACK_K_OUTER"] = "1" if "k outer" in n else "0"
                os.environ["PACKB_ROWS"] = "1" if "by rows" in n else "0"
                t0 = time.perf_counter()
                for _ in range(reps): lib.own_mm_plan(a, b, plan)
                t[n].append((time.perf_counter() - t0) / reps)
        for n, v in t.items():
            m = statistics.median(v)
            print(f"batch {B} {T}t {n:28s} {m * 1e6:8.1f} us {flops / m / 1e9:6.1f} GFLOP/s", flush=True)
