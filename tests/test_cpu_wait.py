"""cpu_wait.py: the run delay of this process's threads, and the tally of timed blocks bench and the tuner
read it through (tests/test_tune.py: the search that stops; test_bench_cli.py: bench's line)."""
import time

import pytest

from minitorch_clf import cpu_wait


def test_waited_reads_the_threads_run_delay():
    first = cpu_wait.waited()
    if first is None:
        pytest.skip("this kernel keeps no schedstat")
    sum(range(10**6))
    second = cpu_wait.waited()
    assert isinstance(first, float) and 0 <= first <= second


def test_a_tally_adds_each_blocks_time_and_wait_and_resets(monkeypatch):
    clock = iter([1.0, 1.25, 3.0, 3.5])                  # waited() at each block's start and end
    monkeypatch.setattr(cpu_wait, "waited", lambda: next(clock))
    tally = cpu_wait.Tally()
    assert tally.share(2) is None                          # nothing timed yet
    for _ in range(2):
        with tally.block():
            time.sleep(0.05)
    assert tally.waited == pytest.approx(0.75) and 0.1 <= tally.seconds < 1
    assert tally.share(2) == pytest.approx(0.75 / (2 * tally.seconds))
    tally.reset()
    assert tally.share(2) is None and tally.waited == 0


def test_a_tally_without_schedstat_counts_nothing(monkeypatch):
    monkeypatch.setattr(cpu_wait, "waited", lambda: None)
    tally = cpu_wait.Tally()
    with tally.block():
        pass
    assert tally.share(2) is None
