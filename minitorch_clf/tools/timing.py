"""Timing primitives of the benchmarks and the machine's ceilings: a synchronised timer (CUDA events on
a GPU) and the rate of one large float32 product. Below bench.py, machine.py and report.py."""
from __future__ import annotations

import contextlib
import statistics
import time

import torch

from ..cpu_wait import TIMED


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Timer:
    """Wall time of a block; on CUDA measured with events around the block (and synchronised). counted=True on
    the CPU: the block's wait for a core goes into cpu_wait.TIMED (bench's timed rounds, not their warm-ups)."""

    def __init__(self, device: torch.device, counted: bool = False):
        self.device = device
        self.tally = TIMED.block() if counted and device.type == "cpu" else contextlib.nullcontext()

    def __enter__(self):
        self.tally.__enter__()
        if self.device.type == "cuda":
            self.start, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            self.start.record()
        else:
            self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.end.record()
            self.end.synchronize()
            self.seconds = self.start.elapsed_time(self.end) / 1e3
        else:
            self.seconds = time.perf_counter() - self.t0
        self.tally.__exit__(*exc)


def matmul_rate(device: torch.device, n: int | None = None, repeats: int = 5) -> float:
    """FLOP/s of an n x n x n float32 product (n = 2048 on CPU, 8192 on GPU), median of `repeats`."""
    n = n or (8192 if device.type == "cuda" else 2048)
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=g).to(device) for _ in range(2))
    a @ b
    times = []
    for _ in range(repeats):
        synchronize(device)
        with Timer(device) as t:
            a @ b
        times.append(t.seconds)
    return 2 * n**3 / statistics.median(times)
