"""distributed.supervise, the launcher's wait loop, on scripted processes: the exits it must notice
and the waits it must not block in (the real processes: tests/test_distributed.py)."""
import pytest

from minitorch_clf.distributed import supervise


class Scripted:
    """A process whose is_alive() answers from a script (its last answer repeats), ending with `code`."""

    def __init__(self, answers, code=0):
        self.answers, self.code, self.killed = list(answers), code, False
        self.sentinel = self

    def is_alive(self):
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    @property
    def exitcode(self):
        return None if self.answers[0] else self.code

    def kill(self):
        self.killed, self.answers, self.code = True, [False], -9


class Clock:
    """time.monotonic for supervise: advances only when wait() sleeps out its timeout."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def waiter(clock, procs):
    """wait(): returns at once while a waited-on process is going to end (its script holds a False);
    sleeps out a timeout; fails where a real wait() would block forever."""
    def wait(sentinels, timeout=None):
        if any(False in p.answers for p in sentinels):
            return
        if timeout is None:
            raise AssertionError("wait() on processes that never end, with no timeout: blocked forever")
        clock.now += timeout
    return wait


def test_a_rank_that_ends_between_two_looks_is_seen_failing():
    """Rank 0 ends (exit 1) right after a look saw it alive; rank 1 hangs. The launcher must still see
    rank 0's failure, give rank 1 the grace period and kill it (the CI hang of 2026-11-27)."""
    clock = Clock()
    procs = [Scripted([True, True, False], code=1), Scripted([True])]
    assert supervise(procs, grace_s=15, wait=waiter(clock, procs), clock=clock) == (0, 1)
    assert procs[1].killed and clock.now == 15


@pytest.mark.parametrize("codes,first", [((0, 0), None), ((0, 2), (1, 2)), ((-9, 1), (0, -9))])
def test_every_exit_is_read_and_the_first_failure_reported(codes, first):
    clock = Clock()
    procs = [Scripted([True, False], code=c) for c in codes]
    assert supervise(procs, grace_s=15, wait=waiter(clock, procs), clock=clock) == first
    assert not any(p.killed for p in procs) and clock.now == 0
