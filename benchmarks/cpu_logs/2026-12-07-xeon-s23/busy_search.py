"""The tuner's short search at batch 64 and 1024, alone and beside a busy loop (one process spinning on one of the
two cores), with the stop of this session (cpu_wait.BUSY) and without it (BUSY = inf: the search as it ran before).
Prints each search's wall time and how long its threads waited for a core, as a share of their time.

    python busy_search.py        (from the repository root's .venv; about two minutes)
"""
import math
import subprocess
import sys
import time

import torch

from minitorch_clf import cpu_wait, ops
from minitorch_clf.ops import tune

ops.load()
SIZES = (784, 128, 64, 10)


def one(batch: int, stop: bool) -> str:
    tune.BUSY = cpu_wait.BUSY if stop else math.inf
    w0, t0 = cpu_wait.waited(), time.perf_counter()
    try:
        r = tune.search(batch, SIZES)
        what = f"searched, tuned/derived step {r.derived_seconds / r.seconds:.3f}x"
    except tune.CpuBusy as e:
        what = f"stopped (CpuBusy: {e.waited:.0%} of the races' time waited)"
    wall, w = time.perf_counter() - t0, cpu_wait.waited() - w0
    return f"batch {batch:5d}  {wall:6.2f} s  threads waited {w / (wall * torch.get_num_threads()):6.1%}  {what}"


for beside in (False, True):
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if beside else None
    try:
        time.sleep(0.5 if beside else 0)
        for stop in (False, True):
            for batch in (64, 1024):
                print(f"{'beside a busy loop' if beside else 'alone':18s} {'stop on' if stop else 'stop off':8s} "
                      f"{one(batch, stop)}", flush=True)
    finally:
        if loop:
            loop.kill()
            loop.wait()
