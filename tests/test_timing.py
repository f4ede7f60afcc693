"""The project's interleaved timing (minitorch_clf/ops/tune.py: shuffled_rounds, interleaved_samples), which the
tuner's races, `bench --gemm` and the benchmarks' scripts use, on plain Python callables: no kernels needed."""
import time

from minitorch_clf.ops import tune


def test_every_round_takes_every_item_once_in_a_new_order():
    items = list(range(6))
    rounds = list(tune.shuffled_rounds(items, 8))
    assert len(rounds) == 8
    assert all(sorted(r) == items for r in rounds)
    assert len({tuple(r) for r in rounds}) > 1                 # not one fixed order
    assert rounds == list(tune.shuffled_rounds(items, 8))      # seeded: the same rounds every time


def test_each_callable_runs_its_own_count_to_last_the_target():
    """A 2 ms callable timed beside a near-empty one: each runs enough times to last target_s. Until 2026-12-07
    both ran the first one's count (one or two calls a sample), so the fast one's samples were single cold calls."""
    counts = {"slow": 0, "fast": 0}

    def slow():
        counts["slow"] += 1
        time.sleep(2e-3)

    def fast():
        counts["fast"] += 1

    samples = tune.interleaved_samples({"slow": slow, "fast": fast}, rounds=3, target_s=4e-3)
    assert all(len(s) == 3 for s in samples.values())
    assert counts["slow"] <= 2 + 3 * 2                          # warm-up and estimate, then at most 2 a round
    assert counts["fast"] >= 2 + 3 * 100
    assert min(samples["slow"]) >= 2e-3 > max(samples["fast"])


def test_min_calls_is_a_floor_for_every_callable():
    counts = {"a": 0, "b": 0}

    def call(name):
        counts[name] += 1
        time.sleep(1e-3)

    tune.interleaved_samples({"a": lambda: call("a"), "b": lambda: call("b")}, rounds=2, target_s=1e-6, min_calls=3)
    assert counts == {"a": 2 + 2 * 3, "b": 2 + 2 * 3}
