"""The step's pieces (step_pieces.pieces: torch.profiler scopes of the one-call SGD step) sorted by where the VM's
two vCPUs sit, read before and after each profile as a cache line's round trip between CPU 0 and CPU 1
(pingpong.c): near (under 150 ns: one L3) or far (over 250 ns: two CCDs); a profile whose two readings disagree
is dropped. Medians per placement, per precision, per piece.
    python pieces_by_placement.py SECONDS [BATCH]"""
import collections, os, statistics, subprocess, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from minitorch_clf import ops
from minitorch_clf.config import MLPConfig
from minitorch_clf.ops import tune
import step_pieces
ops.load()
PP = "/tmp/pingpong_probe"
subprocess.run(["gcc", "-O2", "-pthread", os.path.join(os.path.dirname(os.path.abspath(__file__)), "pingpong.c"),
                "-o", PP], check=True)
seconds, bs = float(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1024
rtt = lambda: float(subprocess.run([PP], capture_output=True, text=True, check=True).stdout)
place = lambda ns: "near" if ns < 150 else "far" if ns > 250 else None
for prec in ("float32", "bf16"):
    ops.set_precision(prec)
    tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
got = collections.defaultdict(list)            # (placement, precision) -> [pieces]
t0 = last = time.time()
while time.time() - t0 < seconds:
    for prec in ("float32", "bf16"):
        ops.set_precision(prec)
        a = place(rtt()); p = step_pieces.pieces(bs); b = place(rtt())
        if a and a == b:
            got[a, prec].append(p)
    if time.time() - last < 30: continue
    last = time.time()
    print(f"{time.time() - t0:5.0f} s: " + ", ".join(f"{k[0]} {k[1]} {len(v)}" for k, v in sorted(got.items())),
          flush=True)
names = sorted({n for v in got.values() for p in v for n in p}, key=step_pieces._order)
keys = sorted(got)
print(f"\nbatch {bs}, medians in us (profiles: " + ", ".join(f"{k[0]} {k[1]} {len(got[k])}" for k in keys) + ")")
print(f"{'piece':62s}" + "".join(f"{k[0] + ' ' + k[1]:>14s}" for k in keys))
for n in names:
    print(f"{n.removeprefix('step: '):62s}" + "".join(
        f"{statistics.median(p.get(n, 0.0) for p in got[k]):14.1f}" for k in keys))
