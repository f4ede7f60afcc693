"""This session's ceilings on one and two threads, three times: the float32 FMA peak (probes.fma_peak_gflops, the
widest ISA) and the STREAM triad at 1 MB (in L2) and 64 MB (DRAM).   python ceilings.py"""
from minitorch_clf.tools import probes

for _ in range(3):
    print(f"FMA peak GFLOP/s: 1 thread {probes.fma_peak_gflops(1):.1f}, 2 threads {probes.fma_peak_gflops(2):.1f}")
for size, label in ((1 << 20, "1 MB"), (64 << 20, "64 MB")):
    print(f"triad {label} GB/s: 1 thread {probes.stream_gbps('triad', size, 1):.1f}, "
          f"2 threads {probes.stream_gbps('triad', size, 2):.1f}")
