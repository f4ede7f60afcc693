import sys, time
from minitorch_clf import ops
from minitorch_clf.ops import tune
ops.load()
for bs in map(int, sys.argv[1].split(",")):
    t0 = time.perf_counter()
    r = tune.search(bs, (784, 128, 64, 10), full=len(sys.argv) > 2)
    moved = [f"{n.split(' =')[0]}:{p.threads}{p.split[0]}" for n, s, p, d in r.products if p != d]
    print(f"batch {bs}: {time.perf_counter()-t0:.1f} s, tuned {r.seconds*1e6:.1f} derived {r.derived_seconds*1e6:.1f} us "
          f"({r.derived_seconds/r.seconds:.3f}x) moved: {' '.join(moved) or '-'}")
