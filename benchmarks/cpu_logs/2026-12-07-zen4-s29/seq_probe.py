"""Where the eight products of a step lose time when they run in the step's order rather than each repeated by
itself: in one process, in shuffled turns (tune.interleaved_samples), at BATCH
  in turn     the eight as eight direct own_mm calls in the step's order, each one's time taken inside the turn
  alone       each product repeated by itself (what bench --gemm's per-product rows time)
Prints each product's median in the turn against its median alone, us.
    python seq_probe.py BATCH [ROUNDS]"""
import statistics, sys, time
from minitorch_clf import ops
from minitorch_clf.config import MLPConfig
from minitorch_clf.ops import tune

ops.load(); d = ops.direct()
bs = int(sys.argv[1]); rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 21
tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
products, _ = tune.step_products(bs, MLPConfig().sizes)
inside = {name: [] for name, _, _ in products}

def in_turn():
    for name, a, b in products:
        t = time.perf_counter_ns()
        d.own_mm(a, b)
        inside[name].append(time.perf_counter_ns() - t)

calls = {"in turn": in_turn}
for name, a, b in products:
    calls["alone: " + name] = lambda a=a, b=b: d.own_mm(a, b)
med = {k: statistics.median(v) * 1e6 for k, v in tune.interleaved_samples(calls, rounds).items()}
tot_in = tot_alone = 0.0
print(f"batch {bs}: in turn {med['in turn']:.1f} us")
print(f"   {'product':28s} {'in turn':>9s} {'alone':>9s} {'ratio':>6s}")
for name, _, _ in products:
    t_in = statistics.median(inside[name]) / 1e3; t_al = med["alone: " + name]
    tot_in += t_in; tot_alone += t_al
    print(f"   {name:28s} {t_in:9.1f} {t_al:9.1f} {t_in / t_al:6.3f}")
print(f"   {'sum':28s} {tot_in:9.1f} {tot_alone:9.1f} {tot_in / tot_alone:6.3f}")
