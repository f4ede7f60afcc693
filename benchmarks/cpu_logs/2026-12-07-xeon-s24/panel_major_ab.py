"""fc1's dW and forward with the outer kernel's loops as on main (PANEL_MAJOR=0) or panel by panel, each panel's
K blocks back to back so that C's panel stays in L1 (PANEL_MAJOR=<bytes>: where the share's C panel is at most that
large; panel_major.patch); the same bits checked; 1 and 2 threads, in turns.   python panel_major_ab.py B"""
import os, statistics, sys, time, torch
from minitorch_clf import ops
ops.load()
lib = torch.ops.minitorch_clf
g = torch.Generator().manual_seed(0)
B = int(sys.argv[1])
x = torch.randn(B, 784, generator=g); W = torch.randn(128, 784, generator=g); dz = torch.randn(B, 128, generator=g)
cases = {}
for T in (1, 2):
    for mode in ("0", "16384", "32768"):
        cases[f"dW {T}t cols PANEL_MAJOR={mode}"] = (dz.t(), x, [1,1,192,T,0], T, mode, 2*128*784*B)
        cases[f"y {T}t {'rows' if B > 64 else 'cols'} PANEL_MAJOR={mode}"] = (x, W.t(), [1,1,192,T,1 if B > 64 else 0], T, mode, 2*128*784*B)
ref = {"dW": dz.t() @ x, "y": x @ W.t()}
bits = {}
for n, (a, b, plan, T, mode, f) in cases.items():
    os.environ["PANEL_MAJOR"] = mode; torch.set_num_threads(T)
    out = lib.own_mm_plan(a, b, plan)
    key = (n.split()[0], T)
    if key in bits: assert torch.equal(bits[key], out), n
    else: bits[key] = out
    assert torch.allclose(out, ref[n.split()[0]], rtol=1e-4, atol=1e-3)
reps = max(5, 20000 // B); t = {n: [] for n in cases}
for rnd in range(15):
    for n in (list(cases) if rnd % 2 else list(cases)[::-1]):
        a, b, plan, T, mode, f = cases[n]; torch.set_num_threads(T); os.environ["PANEL_MAJOR"] = mode
        t0 = time.perf_counter()
        for _ in range(reps): lib.own_mm_plan(a, b, plan)
        t[n].append((time.perf_counter() - t0) / reps)
for n, v in t.items():
    m = statistics.median(v); print(f"batch {B} {n:34s} {m*1e6:8.1f} us {cases[n][5]/m/1e9:6.1f} GFLOP/s", flush=True)
print("same bits in every mode: True")
