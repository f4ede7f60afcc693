"""The eight GEMMs of a SimpleNet training step (CPU): kernels/cpu/gemm.h's GEMM (`own`) against
ATen's (`aten`, MKL), each product alone and all eight in one C++ call (op mlp_products), batch 64,
256 and 1024. extra_info holds GFLOP/s and the share of the measured float32 peak
(probes.fma_peak_gflops, see minitorch_clf/tools/bench_gemm.py for how it is measured).

    pytest benchmarks/test_bench_gemm.py --benchmark-group-by=group --benchmark-columns=median,iqr,rounds

`minitorch-clf bench --gemm` times the same pairs interleaved and prints the table of RESULTS.md;
test_large_product shows where MKL wins (all three sizes large).
"""
import pytest
import torch

from minitorch_clf import ops
from minitorch_clf.tools.bench_gemm import measured_peak_gflops, step_products

BATCHES = [64, 256, 1024]
PRODUCT_NAMES = [name for name, _, _ in step_products(1)[0]]


@pytest.fixture(scope="module")
def peak():
    ops.load()
    return measured_peak_gflops(repeats=3)


def _record(benchmark, flops, peak):
    if benchmark.stats:                  # absent under --benchmark-disable
        gflops = flops / benchmark.stats.stats.median / 1e9
        benchmark.extra_info.update(gflops=round(gflops, 1), pct_peak=round(100 * gflops / peak, 1),
                                    peak_gflops=round(peak, 1))


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("product", PRODUCT_NAMES)
@pytest.mark.parametrize("impl", ["own", "aten"])
def test_step_product(benchmark, peak, batch, product, impl):
    benchmark.group = f"{product} batch {batch}"
    a, b = next((a, b) for name, a, b in step_products(batch)[0] if name == product)
    run = (lambda: ops.own_mm(a, b)) if impl == "own" else (lambda: torch.mm(a, b))
    benchmark(run)
    _record(benchmark, 2 * a.shape[0] * a.shape[1] * b.shape[1], peak)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("impl", ["own", "aten"])
def test_all_eight_products(benchmark, peak, batch, impl):
    benchmark.group = f"all eight products batch {batch}"
    products, (acts, weights, dzs) = step_products(batch)
    benchmark(lambda: ops.mlp_products(acts, weights, dzs, impl))
    _record(benchmark, sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for _, a, b in products), peak)


LARGE = ["512x512x512-nn", "1024x1024x1024-nt", "2048x2048x2048-nn", "2048x2048x2048-nt", "4096x784x128-nt",
         "128x4096x784-tn"]


@pytest.mark.parametrize("shape", LARGE)
@pytest.mark.parametrize("impl", ["own", "aten"])
def test_large_product(benchmark, peak, shape, impl):
    """Beyond the step: where all three sizes are large MKL's packed blocking wins, which is why the
    fused ops' auto choice takes gemm.h's GEMM only for thin products (some size <= 128).
    MxKxN-ab: a is (M, K) row-major (n) or a transposed (K, M) (t); b likewise (K, N) or (N, K)ᵀ."""
    benchmark.group = f"large product {shape}"
    dims, layout = shape.split("-")
    m, k, n = map(int, dims.split("x"))
    g = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=g) if layout[0] == "n" else torch.randn(k, m, generator=g).T
    b = torch.randn(k, n, generator=g) if layout[1] == "n" else torch.randn(n, k, generator=g).T
    benchmark((lambda: ops.own_mm(a, b)) if impl == "own" else (lambda: torch.mm(a, b)))
    _record(benchmark, 2 * m * n * k, peak)
