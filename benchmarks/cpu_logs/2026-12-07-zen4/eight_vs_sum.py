"""Why "all eight (one C++ call)" in bench --gemm reads more than the sum of its eight product rows: in one process,
timed in shuffled turns (tune.interleaved_samples), the eight products of a step at BATCH
  one call    mlp_products through ops.direct() (what bench's "all eight" row times)
  in turn     the eight as eight direct own_mm calls, one after the other, in the step's order
  each alone  each product repeated by itself (what bench's per-product rows time), the eight medians summed
Medians over the rounds, us. (numpy's OpenBLAS is not timed here: its threads spin after each call and take the
cores from ours; bench --gemm times it in its own turns.)
    python eight_vs_sum.py BATCH [ROUNDS]"""
import statistics, sys
from minitorch_clf import ops
from minitorch_clf.config import MLPConfig
from minitorch_clf.ops import tune

ops.load(); d = ops.direct()
bs = int(sys.argv[1]); rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 21
tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
products, (acts, weights, dzs) = tune.step_products(bs, MLPConfig().sizes)
calls = {"own one call": lambda: d.mlp_products(acts, weights, dzs, "own"),
         "own in turn": lambda: [d.own_mm(a, b) for _, a, b in products]}
for name, a, b in products:
    calls["own alone: " + name] = lambda a=a, b=b: d.own_mm(a, b)
med = {k: statistics.median(v) * 1e6 for k, v in tune.interleaved_samples(calls, rounds).items()}
s = sum(v for k, v in med.items() if k.startswith("own alone"))
print(f"batch {bs}: one call {med['own one call']:.1f}  in turn {med['own in turn']:.1f}  each alone, summed {s:.1f} us")
for k, v in med.items():
    if "alone" in k: print(f"   {k:40s} {v:8.1f} us")
