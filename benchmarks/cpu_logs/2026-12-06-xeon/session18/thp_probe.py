"""fc1's dW (dzᵀ·x, own_mm_plan avx512 outer k192 by columns) on 1 and 2 threads and MKL's, with x on 4 KB pages and
copied onto transparent huge pages (an mmap'd buffer given MADV_HUGEPAGE; the AnonHugePages line shows they were
granted). Three passes.   python thp_probe.py BATCH"""
import ctypes, mmap, sys, time, torch
from minitorch_clf import ops
from probe_timing import median_us
ops.load(); d = ops.direct()
libc = ctypes.CDLL("libc.so.6", use_errno=True)
def huge_tensor(rows, cols):
    size = 8 << 20
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    base = (addr + (2 << 20) - 1) & ~((2 << 20) - 1)
    rc = libc.madvise(ctypes.c_void_p(base), ctypes.c_size_t(4 << 20), 14)  # MADV_HUGEPAGE
    assert rc == 0, ctypes.get_errno()
    off = base - addr
    t = torch.frombuffer(m, dtype=torch.float32, count=rows * cols, offset=off).view(rows, cols)
    t.zero_()
    return t, m
N = int(sys.argv[1]) if len(sys.argv) > 1 else 256
torch.manual_seed(0)
x = torch.rand(N, 784); dz = torch.randn(N, 128) * 1e-3
xh, keep = huge_tensor(N, 784); xh.copy_(x)
print("AnonHugePages", [l for l in open("/proc/meminfo") if l.startswith("AnonHuge")][0].split()[1], "kB")
flops = 2 * 128 * 784 * N
assert torch.equal(d.own_mm_plan(dz.t(), x, [1, 1, 192, 1, 0]), d.own_mm_plan(dz.t(), xh, [1, 1, 192, 1, 0]))
for rnd in range(3):
    row = {}
    for name, b in (("4K", x), ("2M", xh)):
        for th in (1, 2):
            row[f"{name} {th}t"] = flops / median_us(lambda: d.own_mm_plan(dz.t(), b, [1, 1, 192, th, 0])) / 1e3
        row[f"{name} mkl"] = flops / median_us(lambda: torch.mm(dz.t(), b)) / 1e3
    print("GFLOP/s", " ".join(f"{k}={v:.0f}" for k, v in row.items()))
