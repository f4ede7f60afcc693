"""index_select of B random rows of a 60,000 x 784 float32 data set into a batch buffer (the epoch's gather), on
one and two threads."""
import statistics, time, torch
g = torch.Generator().manual_seed(0)
data = torch.rand(60000, 784, generator=g); order = torch.randperm(60000, generator=g)
for B in (64, 256, 1024):
    xb = torch.empty(B, 784)
    for th in (1, 2):
        torch.set_num_threads(th)
        pos = 0; s = []
        for r in range(9):
            t0 = time.perf_counter()
            for _ in range(50):
                idx = order[pos:pos + B]; pos = (pos + B) % (60000 - B)
                torch.index_select(data, 0, idx, out=xb)
            s.append((time.perf_counter() - t0) / 50 * 1e6)
        print(f"batch {B} threads {th}: index_select {statistics.median(s):.1f} us  ({B * 3136 / statistics.median(s) / 1e3:.1f} GB/s)")
    torch.set_num_threads(2)
