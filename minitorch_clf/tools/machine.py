"""What the machine is, and what it can do at most: the `machine` record of every bench JSON.

`machine_info(device)` names it (CPU model, ISA, cores and threads, caches; or GPU name, SMs, clocks,
memory, driver, CUDA; torch and Python versions). `ceilings(device)` measures, on the spot, the two
numbers a roofline is drawn from, and a few beside them:

- **compute**: the float32 FMA peak - on a CPU the register-only FMA chains of the widest ISA it has
  (kernels/cpu/ceilings/peak.cpp; every narrower ISA's too), on a GPU 16 independent FMA chains per
  thread over every SM (kernels/cuda/peak.cu). Beside it the best dense GEMM torch runs here
  (float32; on a GPU also TF32 and bfloat16 on the tensor cores), which is what a GEMM can reach.
- **memory**: STREAM's triad a = b + s c (12 bytes per float32 element, as STREAM counts) - on a CPU
  kernels/cpu/ceilings/bandwidth.cpp at footprints that fit L1d, L2 and L3 and one far larger than
  the last-level cache (DRAM); on a GPU torch's add over arrays far larger than L2, and a
  device-to-device copy (8 bytes per element: read + write).

Each is the best of a few runs: a ceiling is what the machine reaches, not what it averages.
"""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch

from . import probes
from .timing import Timer, matmul_rate, synchronize


def machine_info(device: torch.device) -> dict:
    info = {"torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(kind="gpu", gpu=props.name, sms=props.multi_processor_count,
                    memory_gib=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda,
                    capability=f"{props.major}.{props.minor}", l2_bytes=getattr(props, "L2_cache_size", None),
                    **_nvidia_smi(device.index or 0))
        info["host_cpu"] = cpu_model()
    else:
        from .. import ops

        try:
            isa = ops.cpu_isas()[0]                  # the widest the kernels run here
        except ops.BuildError:
            isa = "unknown (kernels not built)"
        info.update(kind="cpu", cpu=cpu_model(), cores=os.cpu_count(), isa=isa, caches=cache_sizes())
    return info


def describe(info: dict) -> str:
    """One line: 'NVIDIA H200' or 'AMD EPYC, 2 threads, avx512, L1d 48K, L2 1024K, L3 32768K'."""
    if info.get("kind") == "gpu":
        return f"{info['gpu']} ({info['sms']} SMs)"
    caches = ", ".join(f"{k} {v // 1024}K" for k, v in info["caches"].items())
    return f"{info['cpu']}, {info['threads']} threads, {info['isa']}, {caches or 'caches unknown'}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cache_sizes() -> dict[str, int]:
    """The data caches of cpu0 in bytes as the kernel reports them (sysfs), e.g. {'L1d': 49152, 'L2': ..., 'L3': ...}.
    L1d and L2 are per core on the x86 CPUs this runs on; L3 is shared by a group of cores."""
    out = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level, kind = (index / "level").read_text().strip(), (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        if kind != "Instruction" and size[:-1].isdigit():
            scale = {"K": 1024, "M": 1024**2}.get(size[-1], 1)
            out[f"L{level}{'d' if kind == 'Data' else ''}"] = int(size[:-1]) * scale
    return out


def _nvidia_smi(index: int) -> dict:
    """Driver and the maximum clocks from nvidia-smi, where it runs (torch reports neither)."""
    fields = ("driver_version", "clocks.max.sm", "clocks.max.memory")
    try:
        out = subprocess.run(["nvidia-smi", f"--id={index}", f"--query-gpu={','.join(fields)}",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=20)
        driver, sm, mem = (v.strip() for v in out.stdout.strip().split(","))
        return {"driver": driver, "sm_clock_mhz": int(sm), "memory_clock_mhz": int(mem)}
    except (OSError, ValueError, subprocess.SubprocessError):
        return {"driver": None, "sm_clock_mhz": None, "memory_clock_mhz": None}


# ---------------------------------------------------------------------------------------------- ceilings

def ceilings(device: torch.device, log=print) -> dict:
    """{"fp32_peak_gflops", "gemm_gflops": {dtype: ...}, "bandwidth_gbs": {level: ...}, ...}, measured now."""
    out = cpu_ceilings() if device.type == "cpu" else gpu_ceilings(device)
    bw = ", ".join(f"{k} {v:.0f}" for k, v in out["bandwidth_gbs"].items())
    bf16 = (f", bf16 peak ({out['bf16_peak_isa']}) {out['bf16_peak_gflops']:.0f}" if "bf16_peak_gflops" in out
            else "")
    log(f"ceilings on {device}: float32 FMA peak {out['fp32_peak_gflops']:.0f} GFLOP/s{bf16}, "
        f"GEMM {', '.join(f'{k} {v:.0f}' for k, v in out['gemm_gflops'].items())} GFLOP/s; triad GB/s: {bw}")
    return out


def bf16_peak_isa() -> str | None:
    """The instructions the bf16 products run on here, whose peak is their ceiling: 'amx' (tiles) or
    'avx512bf16' (vdpbf16ps), the kernel ops.set_bf16_kernel('auto') takes; None where it is 'fma'
    (rounded copies on the float32 FMAs: the float32 peak is theirs)."""
    from .. import ops

    kernel = ops.bf16_kernels()[0]
    return None if kernel == "fma" else kernel


def cpu_ceilings(threads: int | None = None) -> dict:
    from .bench_gemm import measured_peak_gflops, peaks_by_isa

    threads = threads or torch.get_num_threads()
    peaks = peaks_by_isa(repeats=3)
    out = {"fp32_peak_gflops": next(iter(peaks.values())), "peak_isa": next(iter(peaks)),
           "fp32_peak_gflops_by_isa": peaks,
           "gemm_gflops": {"float32": matmul_rate(torch.device("cpu")) / 1e9},
           "bandwidth_gbs": cpu_bandwidth(threads), "copy_gbs": cpu_copy_gbs(threads)}
    isa = bf16_peak_isa()
    if isa:
        out["bf16_peak_isa"] = isa
        out["bf16_peak_gflops"] = measured_peak_gflops(3, isa)
    return out


def cpu_footprints(threads: int, caches: dict[str, int] | None = None) -> dict[str, int]:
    """Bytes of the triad's three arrays (all threads) per memory level: half of each core's L1d / L2
    per thread, half of the shared L3, and for DRAM 8x the L3 (at least 256 MiB, at most 1 GiB)."""
    caches = cache_sizes() if caches is None else caches
    out = {}
    if "L1d" in caches:
        out["L1d"] = threads * caches["L1d"] // 2
    if "L2" in caches:
        out["L2"] = threads * caches["L2"] // 2
    if "L3" in caches:
        out["L3"] = caches["L3"] // 2
    out["DRAM"] = min(max(8 * caches.get("L3", 0), 256 << 20), 1 << 30)
    return out


def cpu_bandwidth(threads: int, kernel: str = "triad") -> dict[str, float]:
    """GB/s of STREAM's `kernel` per memory level (cpu_footprints), best of two runs of 10 samples."""
    return {level: max(probes.stream_gbps(kernel, size, threads, samples=10) for _ in range(2))
            for level, size in cpu_footprints(threads).items()}


def cpu_copy_gbs(threads: int) -> float:
    """STREAM's copy from DRAM (8 bytes per element), the same probe as the triad's."""
    return max(probes.stream_gbps("copy", cpu_footprints(threads)["DRAM"], threads, samples=10) for _ in range(2))


def _best_rate(fn, amount: float, device: torch.device, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        with Timer(device) as t:
            fn()
        best = min(best, t.seconds)
    return amount / best / 1e9


def gpu_ceilings(device: torch.device, nbytes: int = 1 << 30) -> dict:
    props = torch.cuda.get_device_properties(device)
    out = torch.empty(props.multi_processor_count * props.max_threads_per_multi_processor, device=device)
    iters = 4096                                     # a first timing, then scaled to ~50 ms
    probes.gpu_fma_chains_(out, iters)
    with Timer(device) as t:
        probes.gpu_fma_chains_(out, iters)
    iters = max(1, int(iters * 0.05 / max(t.seconds, 1e-6)))
    flops = 2 * probes.FMA_CHAINS * iters * out.numel()
    peak = _best_rate(lambda: probes.gpu_fma_chains_(out, iters), flops, device, 5)
    gemm = {}
    tf32 = torch.backends.cuda.matmul.allow_tf32
    try:
        for name, dtype, allow in (("float32", torch.float32, False), ("tf32", torch.float32, True),
                                   ("bfloat16", torch.bfloat16, False)):
            torch.backends.cuda.matmul.allow_tf32 = allow
            n = 8192
            a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
            gemm[name] = _best_rate(lambda: a @ b, 2 * n**3, device, 5)
            del a, b
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    n = nbytes // 4
    a, b, c = (torch.ones(n, device=device) for _ in range(3))
    triad = _best_rate(lambda: torch.add(b, c, alpha=0.5, out=a), 12 * n, device, 10)
    copy = _best_rate(lambda: a.copy_(b), 8 * n, device, 10)
    return {"fp32_peak_gflops": peak, "peak_isa": "cuda cores (FMA)", "gemm_gflops": gemm,
            "bandwidth_gbs": {"DRAM": triad}, "copy_gbs": copy}
