"""fc1's forward at batch B (2 threads, rows cut, A = x read in place), x warm (the same buffer each call) or cold
(one of 8 in turn, 26 MB), with a_lead.patch's A_LEAD = 0, 1, 2 (the first panel's tiles ask for the rows of the tile
that many ahead, a line every other k, prefetcht0), all six in turns in one process; 15 rounds, medians and the
median of each round's ratio to A_LEAD=0.   python cold_lead.py B"""
import os, statistics, sys, time, torch
from minitorch_clf import ops
ops.load(); lib = torch.ops.minitorch_clf; torch.set_num_threads(2)
B = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
g = torch.Generator().manual_seed(0)
xs = [torch.randn(B, 784, generator=g) for _ in range(8)]; W = torch.randn(128, 784, generator=g)
Y = [1, 1, 192, 2, 1]
cases = {f"{temp} lead {lead}": (lead, (lambda i: xs[0]) if temp == "warm" else (lambda i: xs[i % 8]))
         for temp in ("warm", "cold") for lead in (0, 1, 2)}
ref = lib.own_mm_plan(xs[0], W.t(), Y)
for lead in (1, 2):                                # the prefetches change no result
    os.environ["A_LEAD"] = str(lead)
    assert torch.equal(lib.own_mm_plan(xs[0], W.t(), Y), ref)
reps = 24; t = {n: [] for n in cases}
for rnd in range(15):
    for n in (list(cases) if rnd % 2 else list(cases)[::-1]):
        lead, x = cases[n]
        os.environ["A_LEAD"] = str(lead)
        for i in range(8): lib.own_mm_plan(x(i), W.t(), Y)
        t0 = time.perf_counter()
        for i in range(reps): lib.own_mm_plan(x(i), W.t(), Y)
        t[n].append((time.perf_counter() - t0) / reps)
for n, v in t.items():
    base = t[n.split(" lead")[0] + " lead 0"]
    ratio = statistics.median(a / b for a, b in zip(v, base))
    print(f"batch {B} {n:12s} {statistics.median(v)*1e6:8.1f} us  (q1 {sorted(v)[3]*1e6:.1f}, q3 {sorted(v)[11]*1e6:.1f})  / lead 0: {ratio:.3f}")
