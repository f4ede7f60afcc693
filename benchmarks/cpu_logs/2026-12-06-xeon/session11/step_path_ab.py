"""engine.step's Python path before (d2472bb's _one_call_step, written out here) and after (this build), timed in
turns in one process: fused engine, SGD momentum 0.9, CPU, 2-D x, after its first steps. 21 rounds of 200 steps."""
import random, statistics, sys, time, torch
from minitorch_clf.engines import build_engine
from minitorch_clf import optim as ours
bs = int(sys.argv[1])
eng = build_engine("fused", optimizer="sgd", lr=1e-12, momentum=0.9, device="cpu", seed=0)
x = torch.randn(bs, 784); y = torch.randint(0, 10, (bs,))
for _ in range(20): eng.step(x, y)
op = torch.ops.minitorch_clf.mlp_sgd_step_

def before(x, y):
    eng.check_batch(x, y)
    eng._tune(x.shape[0])
    with eng._precision():
        assert eng.whole_step and eng.device.type == "cpu" and type(eng.optimizer) is ours.SGD
        group = eng.optimizer.param_groups[0]
        assert group["momentum"] == 0 or all(eng.optimizer.state[p].get("momentum_buffer") is not None
                                             for p in group["params"])
        with torch._C._AutoDispatchBelowAutograd():
            bufs = [eng.optimizer.state[p]["momentum_buffer"] for p in group["params"]] if group["momentum"] else []
            return op(x.reshape(x.shape[0], -1), y, eng.weights, eng.biases, bufs, eng.act, *eng._hyper())

args = eng._one_call_args()
def bare(x, y):
    with torch._C._AutoDispatchBelowAutograd():
        return op(x, y, *args)

calls = {"op alone": bare, "engine.step before": before, "engine.step now": eng.step}
samples = {k: [] for k in calls}
rng = random.Random(0)
for r in range(21):
    for k in rng.sample(list(calls), len(calls)):
        t0 = time.perf_counter()
        for _ in range(200): calls[k](x, y)
        samples[k].append((time.perf_counter() - t0) / 200 * 1e6)
for k, v in samples.items():
    print(f"batch {bs:4d}  {k:20s} median {statistics.median(v):6.1f} us  (quartiles {statistics.quantiles(v)[0]:.1f}-{statistics.quantiles(v)[2]:.1f})")
