"""What this folder's Python probes share: a call's median time in microseconds."""
import time


def median_us(f, n=20, rounds=11):
    """f() timed in `rounds` rounds of n calls after 3 warm-up calls; the median round's time per call, in us."""
    for _ in range(3):
        f()
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            f()
        ts.append((time.perf_counter_ns() - t0) / n / 1e3)
    ts.sort()
    return ts[len(ts) // 2]
