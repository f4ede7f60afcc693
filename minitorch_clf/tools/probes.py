"""The machine probes of kernels/cpu/ceilings and kernels/cuda/peak.cu, barriers.cu from Python: what the CPU
and the GPU can do at most, measured (the FMA peak, the bandwidth of each memory level, a barrier's cost), and
what a cache line costs to cross between two cores. Registered as ops of the same library as the kernels, but not
part of the model: machine.py and bench_gemm.py use them for the ceilings every "% of peak" divides by."""
from __future__ import annotations

import torch

from ..ops import _lib


def fma_peak_gflops(threads: int | None = None, isa: str = "auto") -> float:
    """Measured float32 peak of `threads` cores (default torch's thread count): FMAs from registers only,
    with the vectors of `isa` ('avx512', 'avx2'; 'auto': the widest this CPU has). 'avx512bf16': the peak
    of bf16 products with float32 sums (vdpbf16ps, twice the flops an instruction) where the CPU has it;
    'amx': that of AMX's tdpbf16ps (16 x 16 x 32 products an instruction)."""
    return _lib().fma_peak_gflops(torch.get_num_threads() if threads is None else threads, isa)


def stream_gbps(kernel: str, nbytes: int, threads: int | None = None, samples: int = 20) -> float:
    """Measured bandwidth in GB/s of STREAM's `kernel`: 'triad' a = b + s c (12 bytes per element, as
    STREAM counts) or 'copy' a = b (8), over float32 arrays of `nbytes` in all (three arrays), split over
    `threads` cores (default torch's thread count); best of `samples`."""
    return _lib().stream_gbps(kernel, nbytes, torch.get_num_threads() if threads is None else threads, samples)


def core_round_trip_ns(handoffs: int = 20_000, runs: int = 9) -> float | None:
    """A cache line's round trip between the cores of this process's first two threads, in ns (the median of `runs`
    runs of `handoffs`): tens of ns where they share an L3, several times that where they do not (a VM's vCPUs can
    move between the two; kernels/cpu/ceilings/round_trip.cpp). None where torch runs one thread (the kernels then
    hand nothing between cores)."""
    if torch.get_num_threads() < 2:
        return None
    ns = _lib().core_round_trip_ns(handoffs, runs)
    return None if ns != ns else ns


def gpu_fma_chains_(out: torch.Tensor, iters: int) -> None:
    """Launch the GPU FMA peak probe: one thread per element of `out` (contiguous float32, CUDA), each
    `iters` rounds of FMA_CHAINS independent FMAs; time it around the call (CUDA events)."""
    if not (isinstance(out, torch.Tensor) and out.is_cuda and out.dtype == torch.float32 and out.is_contiguous()):
        got = f"{out.dtype} on {out.device}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"out: expected a contiguous float32 CUDA tensor, got {got}")
    _lib(out).gpu_fma_chains_(out, iters)


FMA_CHAINS = 16                                                   # kernels/cuda/kernels.h kFmaChains


def gpu_barrier_rounds_(out: torch.Tensor, cluster: int, iters: int) -> None:
    """Launch the GPU barrier probe (kernels/cuda/barriers.cu): one block per element of `out` (contiguous
    int32, CUDA), each running `iters` barriers - cluster 0: grid.sync() over the whole cooperative grid;
    1..16: cluster.sync() in clusters of that many blocks - and writing the count it passed there."""
    if not (isinstance(out, torch.Tensor) and out.is_cuda and out.dtype == torch.int32 and out.is_contiguous()):
        got = f"{out.dtype} on {out.device}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"out: expected a contiguous int32 CUDA tensor, got {got}")
    _lib(out).gpu_barrier_rounds_(out, cluster, iters)


def gpu_barrier_us(blocks: int, cluster: int = 0, iters: int = 2000, device="cuda", repeats: int = 5) -> float:
    """Microseconds one barrier costs `blocks` blocks (cluster 0: a grid barrier; else a cluster barrier of
    that many blocks): (a launch of `iters` barriers - a launch of none) / iters, each the best of `repeats`."""
    from .timing import Timer

    out = torch.empty(blocks, dtype=torch.int32, device=device)
    best = {}
    for n in (0, iters):
        gpu_barrier_rounds_(out, cluster, n)                        # warm-up
        times = []
        for _ in range(repeats):
            with Timer(out.device) as t:
                gpu_barrier_rounds_(out, cluster, n)
            times.append(t.seconds)
        best[n] = min(times)
    if not bool((out == iters).all()):
        raise RuntimeError(f"barrier probe: a block passed {int(out.min())} of {iters} barriers")
    return max(best[iters] - best[0], 0.0) / iters * 1e6
