"""The roofline's inputs: arithmetic intensity formulas (hand-computed for SimpleNet), and the machine
ceilings measured on the spot (the CPU's bandwidth probe: plausible, bounded, quick, bad arguments)."""
import time

import pytest
import torch

from minitorch_clf.models import MLPConfig
from minitorch_clf.tools import intensity as I
from minitorch_clf.tools import machine as M

pytestmark = pytest.mark.kernels


def test_gemm_cost_by_hand():
    # fc1 forward at batch 64: (64 x 784) . (784 x 128)
    c = I.gemm("fc1", 64, 128, 784)
    assert c.flops == 2 * 64 * 128 * 784 == 12_845_056
    assert c.bytes == (64 * 784 + 784 * 128 + 64 * 128) * 4 == 634_880
    assert c.intensity == pytest.approx(12_845_056 / 634_880)
    assert I.gemm("fc1", 64, 128, 784, itemsize=8).bytes == 2 * 634_880


def test_step_gemms_are_the_steps_flops():
    config = MLPConfig()
    gemms = I.step_gemms(config, 64)
    assert len(gemms) == 8                                  # 3 forward, 3 dW, 2 dx (not fc1's)
    assert sum(g.flops for g in gemms) == config.flops_per_sample() * 64
    assert [g.name for g in gemms][-2:] == ["fc2 dx = dz.W", "fc3 dx = dz.W"]
    assert gemms[3].flops == gemms[0].flops                 # dW_1 = dz_1^T x: 128 x 784 x 64
    assert gemms[3].bytes == (128 * 64 + 64 * 784 + 128 * 784) * 4


def test_step_cost_by_hand():
    params = 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10
    assert params == 109_386
    sgd = I.step(MLPConfig(), 64)
    assert sgd.flops == 29_081_600
    assert sgd.bytes == 64 * (784 * 4 + 8) + 2 * params * 4 * 2 == 1_951_392      # x, y; W,b and momentum r+w
    adam = I.step(MLPConfig(), 64, optimizer="adam")
    assert adam.bytes == 64 * (784 * 4 + 8) + 2 * params * 4 * 3
    assert I.step(MLPConfig(), 1024, itemsize=8).bytes == 1024 * (784 * 8 + 8) + 2 * params * 8 * 2
    with pytest.raises(ValueError, match="optimizer"):
        I.step(MLPConfig(), 64, optimizer="lion")


def test_linear_forward_cost():
    c = I.linear_forward(MLPConfig(), 64, layer=1)           # fc2: 64 x 128 -> 64
    assert c.flops == 2 * 64 * 128 * 64 + 2 * 64 * 64
    assert c.bytes == (64 * 128 + 128 * 64 + 64 + 64 * 64) * 4


def test_roofline_helpers():
    assert I.ridge(500.0, 50.0) == 10.0
    assert I.attainable(1.0, 500.0, 50.0) == 50.0 and I.attainable(100.0, 500.0, 50.0) == 500.0


def test_footprints_follow_the_caches():
    caches = {"L1d": 48 << 10, "L2": 1 << 20, "L3": 32 << 20}
    f = M.cpu_footprints(2, caches)
    assert f == {"L1d": 48 << 10, "L2": 1 << 20, "L3": 16 << 20, "DRAM": 256 << 20}
    assert M.cpu_footprints(1, {})["DRAM"] == 256 << 20
    assert M.cpu_footprints(1, {"L3": 512 << 20})["DRAM"] == 1 << 30


def test_bandwidth_probe_is_plausible_and_quick():
    """DRAM triad bounded by the copy rate the same probe measures: STREAM counts 12 bytes an element
    for the triad and 8 for the copy, the hardware moves 16 and 12 (write-allocate), so at one DRAM
    bandwidth B the counted rates are 0.75 B and 0.67 B, a ratio of 1.125; allow 0.5x-1.5x. The L1d
    figure lies above the DRAM one; the whole probe takes seconds, not minutes (a few when the machine is
    idle; the bound is loose because a loaded CI runner once took more than 10)."""
    from minitorch_clf.tools import probes

    threads = torch.get_num_threads()
    t0 = time.perf_counter()
    bw = M.cpu_bandwidth(threads)
    copy = M.cpu_copy_gbs(threads)
    seconds = time.perf_counter() - t0
    assert seconds < 60
    assert 0.5 * copy < bw["DRAM"] < 1.5 * copy, (bw, copy)
    if "L1d" in bw:
        assert bw["L1d"] > bw["DRAM"]
    assert probes.stream_gbps("copy", 1 << 20, 1, 3) > 0


@pytest.mark.parametrize("args,word", [(("triad", 100, 1, 5), "bytes"), (("triad", 1 << 20, 0, 5), "threads"),
                                       (("copy", 1 << 20, 1, 0), "samples"), (("triad", 1 << 40, 1, 1), "bytes"),
                                       (("scale", 1 << 20, 1, 1), "kernel"),
                                       (("triad", 1 << 30, 10**6, 1), "threads: expected 1 to")])
def test_bandwidth_probe_bad_arguments(args, word):
    from minitorch_clf.tools import probes

    with pytest.raises(RuntimeError, match=word):
        probes.stream_gbps(*args)


def test_core_round_trip_probe():
    """kernels/cpu/ceilings/round_trip.cpp: a cache line handed between the cores of threads 0 and 1 takes a
    positive, finite time (no bound above: on a busy runner a handoff can wait for a core); with one torch thread
    the kernels hand nothing over, and the probe says None; bad counts are refused, naming the argument."""
    from minitorch_clf.tools import probes

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        ns = probes.core_round_trip_ns(200, 3)
        assert ns is not None and 0 < ns < float("inf")
        torch.set_num_threads(1)
        assert probes.core_round_trip_ns(200, 3) is None
    finally:
        torch.set_num_threads(before)
    for args, word in (((0, 3), "handoffs"), ((200, 0), "runs"), ((200, 1001), "runs")):
        with pytest.raises(RuntimeError, match=word):
            torch.ops.minitorch_clf.core_round_trip_ns(*args)


@pytest.mark.parametrize("threads", [0, 10**6, 2**40])
def test_peak_probe_refuses_more_threads_than_logical_cpus(threads):
    """2**40 threads became a negative OpenMP thread count and a SIGSEGV; in a child, so a crash fails here."""
    from child import outcome
    from minitorch_clf import ops
    from minitorch_clf.tools import probes

    ops.load()
    got = outcome(lambda: probes.fma_peak_gflops(threads))
    assert "RuntimeError" in got and "threads: expected 1 to" in got, got


def test_machine_record_names_the_cpu():
    info = M.machine_info(torch.device("cpu"))
    assert info["kind"] == "cpu" and info["isa"] in ("avx512", "avx2", "scalar")
    assert info["cores"] >= 1 and info["threads"] >= 1 and isinstance(info["caches"], dict)
    assert info["isa"] in M.describe(info)


def test_memory_bound_kernels_by_hand():
    ce = I.cross_entropy(64, 10)
    assert (ce.flops, ce.bytes) == (5 * 640, (2 * 640 + 1) * 4 + 8 * 64)
    sgd = I.sgd_update(109_386)
    assert (sgd.flops, sgd.bytes) == (4 * 109_386, 5 * 109_386 * 4)
    assert sgd.intensity == pytest.approx(0.2)                 # far left of any ridge: bandwidth-bound
