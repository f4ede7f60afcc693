"""fc1's dW = dzᵀ·x (128 x 784, K = batch) and forward alone, each repeated on the same operands, at batch
sizes around where a core's share of the operands outgrows its L2: GFLOP/s of the derived plan (two threads,
dW cut by columns, the forward by rows) and the FMA peak measured in the same run."""
import statistics, time, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load(); lib = torch.ops.minitorch_clf
from minitorch_clf.tools.bench_gemm import measured_peak_gflops
peak = measured_peak_gflops(isa="avx512")
print(f"FMA peak (2 threads, avx512): {peak:.0f} GFLOP/s")
for B in (256, 384, 512, 640, 768, 1024, 1536):
    shapes = dict(tune.step_shapes(B, (784, 128, 64, 10)))
    row = []
    for name in ("fc1 dW = dzᵀ·x", "fc1 y = x·Wᵀ"):
        sh = shapes[name]; a, b = sh.operands(seed=1); ints = tune.derived_plan(sh).ints()
        n = max(5, int(2e6 / B))
        s = []
        for r in range(7):
            lib.own_mm_plan(a, b, ints)
            t0 = time.perf_counter()
            for _ in range(n // 100 + 5): lib.own_mm_plan(a, b, ints)
            s.append((time.perf_counter() - t0) / (n // 100 + 5))
        t = statistics.median(s)
        gf = 2 * sh.M * sh.N * sh.K / t / 1e9
        row.append(f"{name}: {t * 1e6:7.1f} us {gf:5.0f} GFLOP/s ({gf / peak:.0%})")
    x_half_mb = B * 392 * 4 / 2**20
    print(f"batch {B:5d} (a core's half of x's columns {x_half_mb:.2f} MiB)  " + "   ".join(row))
