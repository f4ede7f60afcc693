"""The one-call SGD step (SimpleNet, ReLU, momentum 0.9, tuned plans, the operands bench --gemm's step row uses)
called two ways in one process, in alternating blocks: through the dispatcher (torch.ops.minitorch_clf.mlp_sgd_step_,
below autograd as the fused engine called it) and directly (ops.direct().sgd_step, kernels/cpu/direct_calls.cpp).
With --adam, the fused engine's Adam step (mlp_adam_step_, its optimizer's state) instead.
Prints per batch the median per step of each over 30 blocks and the median of the blocks' paired ratios.
    python direct_vs_op.py [--adam] BATCH [BATCH ...]"""
import statistics, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.config import MLPConfig
from minitorch_clf.ops import tune

ops.load()
adam = "--adam" in sys.argv
for bs in (int(a) for a in sys.argv[1:] if a != "--adam"):
    tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
    if adam:
        from minitorch_clf.engines import build_engine
        eng = build_engine("fused", optimizer="adam", lr=1e-12, device="cpu", seed=0)
        g = torch.Generator().manual_seed(0)
        args = (torch.rand(bs, 784, generator=g), torch.randint(0, 10, (bs,), generator=g), *eng._adam_args())
        op, direct = torch.ops.minitorch_clf.mlp_adam_step_, ops.direct().adam_step
    else:
        _, (acts, weights, _) = tune.step_products(bs, MLPConfig().sizes)
        args = tune.sgd_step(acts, weights).args
        op, direct = torch.ops.minitorch_clf.mlp_sgd_step_, ops.direct().sgd_step

    def via_op():
        with torch._C._AutoDispatchBelowAutograd():
            return op(*args)

    calls = {"op": via_op, "direct": lambda: direct(*args)}
    reps = max(20, 6_400 // bs)
    for f in calls.values():
        for _ in range(2 * reps): f()
    t = {k: [] for k in calls}
    for block in range(30):
        for k in (calls if block % 2 else reversed(list(calls))):
            t0 = time.perf_counter()
            for _ in range(reps): calls[k]()
            t[k].append((time.perf_counter() - t0) / reps * 1e6)
    ratio = statistics.median(d / o for d, o in zip(t["direct"], t["op"]))
    print(f"{'adam' if adam else 'sgd'} batch {bs}: op {statistics.median(t['op']):.1f} us, direct {statistics.median(t['direct']):.1f} us, "
          f"direct/op {ratio:.3f} (paired blocks)", flush=True)
