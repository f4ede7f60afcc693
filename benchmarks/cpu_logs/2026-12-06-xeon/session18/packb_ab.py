"""fc1's dW (dzᵀ·x, own_mm_plan: avx512 outer k192, 1 and 2 threads by columns) with x read in place (PACKB=0) or
each panel packed first (PACKB=1), alternating blocks in one process, after checking the two give the same bits.
Needs pack_b.patch applied (it reads PACKB in gemm_outer_block.h); `git checkout kernels/cpu/gemm/gemm_outer_block.h`
removes it.   python packb_ab.py BATCH ..."""
import os, statistics, sys, time, torch
from minitorch_clf import ops
ops.load(); d = ops.direct()
for N in (int(a) for a in sys.argv[1:]):
    torch.manual_seed(0)
    x = torch.rand(N, 784); dz = torch.randn(N, 128) * 1e-3
    flops = 2 * 128 * 784 * N
    for th in (1, 2):
        plan = [1, 1, 192, th, 0]
        os.environ["PACKB"] = "0"; r0 = d.own_mm_plan(dz.t(), x, plan)
        os.environ["PACKB"] = "1"; r1 = d.own_mm_plan(dz.t(), x, plan)
        same = torch.equal(r0, r1)
        reps = max(5, 20000 // N)
        t = {"0": [], "1": []}
        for b in range(20):
            for m in (("0", "1") if b % 2 else ("1", "0")):
                os.environ["PACKB"] = m
                d.own_mm_plan(dz.t(), x, plan)
                t0 = time.perf_counter()
                for _ in range(reps): d.own_mm_plan(dz.t(), x, plan)
                t[m].append((time.perf_counter() - t0) / reps * 1e6)
        r = statistics.median(b / a for a, b in zip(t["0"], t["1"]))
        print(f"batch {N} {th}t: in place {statistics.median(t['0']):.1f} us ({flops / statistics.median(t['0']) / 1e3:.0f} GFLOP/s), "
              f"packed {statistics.median(t['1']):.1f} us ({flops / statistics.median(t['1']) / 1e3:.0f}), packed/in place {r:.3f}, same bits {same}", flush=True)
