"""One training step per engine (SGD with momentum, float32, resident random batch) at batch 64, 256
and 1024, on the CPU and on a GPU where present. Warm-up (torch.compile, kernel builds, CUDA graph
capture) happens before timing. For interleaved, side-by-side figures use `minitorch-clf bench`.

    pytest benchmarks/test_bench_steps.py --benchmark-group-by=group --benchmark-columns=median,iqr,rounds
"""
import pytest
import torch

from minitorch_clf.engines import ENGINES, build_engine

from conftest import DEVICES


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("batch", [64, 256, 1024])
@pytest.mark.parametrize("engine_name", ENGINES)
def test_train_step(benchmark, sync, device, batch, engine_name):
    benchmark.group = f"train step {device} batch {batch}"
    g = torch.Generator().manual_seed(batch)
    x = torch.randn(batch, 1, 28, 28, generator=g).to(device)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    engine = build_engine(engine_name, optimizer="sgd", lr=0.01, momentum=0.9, device=device)
    for _ in range(5):
        engine.step(x, y)
    sync()
    benchmark(lambda: (engine.step(x, y), sync()))
