"""What the VM's slow phases slow down: every few seconds, side by side in one process, STREAM triad per memory
level (probes.stream_gbps, the footprints bench uses), the FMA peak, a cache line's round trip between CPU 0 and
CPU 1 (pingpong.c, built beside this file into /tmp), and the fused one-call SGD step at one batch in float32 and
in bf16 (median of 15); one line a sample.
    python phase_probe.py SECONDS [BATCH]"""
import os, statistics, subprocess, sys, time, torch
from minitorch_clf import ops
from minitorch_clf.ops import tune
from minitorch_clf.config import MLPConfig
from minitorch_clf.tools import probes
from minitorch_clf.tools.machine import cpu_footprints
from minitorch_clf.tools.bench_gemm import measured_peak_gflops
ops.load()
PP = "/tmp/pingpong_probe"
subprocess.run(["gcc", "-O2", "-pthread", os.path.join(os.path.dirname(os.path.abspath(__file__)), "pingpong.c"),
                "-o", PP], check=True)
lib = torch.ops.minitorch_clf
seconds, bs = float(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1024
T = torch.get_num_threads()
sizes = cpu_footprints(T)
steps = {}
for prec in ("float32", "bf16"):
    ops.set_precision(prec)
    tune.ensure(bs, MLPConfig().sizes, log=lambda m: None)
    _, (acts, weights, _) = tune.step_products(bs, MLPConfig().sizes)
    x, y = acts[0], torch.randint(0, 10, (bs,))
    W = [w.clone() for w in weights]; B = [torch.zeros(w.shape[0]) for w in weights]
    bufs = [torch.zeros_like(t) for p in zip(W, B) for t in p]
    steps[prec] = (lambda x=x, y=y, W=W, B=B, bufs=bufs: lib.mlp_sgd_step_(
        x, y, W, B, bufs, "relu", tune.STEP_LR, 0.9, 0.0, 0.0, False, False))
ops.set_precision("float32")
print("t_s  " + "  ".join(f"{l}_GBs" for l in sizes) + "  fma_GFs  rtt_ns  f32_us  bf16_us  ratio", flush=True)
t0 = time.time()
while time.time() - t0 < seconds:
    bw = [probes.stream_gbps("triad", s, T, samples=5) for s in sizes.values()]
    peak = measured_peak_gflops(repeats=3)
    rtt = float(subprocess.run([PP], capture_output=True, text=True, check=True).stdout)
    us = {}
    for prec, f in steps.items():
        ops.set_precision(prec)
        f(); ts = []
        for _ in range(15):
            a = time.perf_counter(); f(); ts.append((time.perf_counter() - a) * 1e6)
        us[prec] = statistics.median(ts)
    ops.set_precision("float32")
    print(f"{time.time() - t0:5.0f}  " + "  ".join(f"{b:7.1f}" for b in bw) +
          f"  {peak:6.1f}  {rtt:6.0f}  {us['float32']:7.1f}  {us['bf16']:7.1f}  {us['float32'] / us['bf16']:.2f}", flush=True)
