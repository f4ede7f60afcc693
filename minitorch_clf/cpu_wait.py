"""Whether a timing had the cores to itself: how long this process's threads were runnable but waiting for a
core, from the kernel's run delay (the second field of /proc/self/task/<tid>/schedstat, summed over the
threads). Where other processes run beside a timing, the wait grows with them; alone it stays near zero.

Measured on the 2-core Xeon, 2026-12-07: the tuner's short search at batch 64 alone waited 0.3% of its
threads' time, beside one busy loop 49% (and took 38-51 s instead of 1.2). The tuner stops a search above BUSY
(ops/tune.py); bench says in a line that its times include the wait, and `bench --json` records the share
(tools/cmd_bench.py).
"""
from __future__ import annotations

import contextlib
import os
import time

BUSY = 0.10       # a share of the threads' time spent waiting for a core above which a timing is not the code's


def waited() -> float | None:
    """Seconds this process's threads have spent runnable but waiting for a core, summed over its threads;
    None where Linux does not say."""
    total, seen = 0, False
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
            seen = True
        except (OSError, IndexError, ValueError):      # a thread that ended since the listing
            continue
    return total * 1e-9 if seen else None


class Tally:
    """The wait over timed blocks: `with tally.block(): ...` adds a block's wall time and its threads' wait
    (read outside the block's own clock), and share(threads) is the wait over the time `threads` threads had."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.waited = self.seconds = 0.0

    @contextlib.contextmanager
    def block(self):
        w0, t0 = waited(), time.perf_counter()
        try:
            yield
        finally:
            seconds, w1 = time.perf_counter() - t0, waited()
            if w0 is not None and w1 is not None:
                self.waited += w1 - w0
                self.seconds += seconds

    def share(self, threads: int) -> float | None:
        return self.waited / (self.seconds * threads) if self.seconds > 0 else None


# Every timed block of the benchmarks: tools/timing.Timer on the CPU (not the warm-ups) and the rounds of
# ops/tune.interleaved_samples (bench --gemm's; the tuner's races keep a tally of their own). bench resets it and reads it at its end.
TIMED = Tally()
