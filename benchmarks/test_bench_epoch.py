"""A 60,000-sample MNIST-shaped epoch at batch 64 on CPU: the seed's loop against the manual engine.

  reference + DataLoader: the seed exactly - PIL image + ToTensor + Normalize per sample, autograd,
                          torch.optim;
  manual    + tensor:     hand-written layers and optimizer, the set resident in one tensor.
The images are synthetic uint8 (no download), fed through the same Dataset/transform path as real
MNIST. `pytest benchmarks --benchmark-disable` (the smoke mode) runs a 2,048-sample epoch once.

    pytest benchmarks/test_bench_epoch.py --benchmark-columns=median,min,max,rounds
"""
import pytest

from minitorch_clf import data as D
from minitorch_clf.engines import build_engine

BATCH = 64


@pytest.fixture(scope="module")
def split(request):
    smoke = request.config.getoption("benchmark_disable")
    return D.synthetic_mnist(2048 if smoke else 60_000)


def run_epoch(engine, loader, epoch):
    for x, y in loader.epoch(epoch):
        engine.step(x, y)
    return float(engine.step(x, y))          # a value read back, so the epoch really ran


@pytest.mark.parametrize("engine_name,loader_kind", [("reference", "dataloader"), ("manual", "tensor")])
def test_epoch(benchmark, split, engine_name, loader_kind):
    benchmark.group = f"epoch of {len(split)} samples, batch {BATCH}, cpu"
    engine = build_engine(engine_name, optimizer="sgd", lr=0.01, momentum=0.9)
    loader = D.make_loader(loader_kind, split, BATCH, seed=0)
    epochs = iter(range(1_000))
    benchmark.pedantic(lambda: run_epoch(engine, loader, next(epochs)), rounds=3, warmup_rounds=0)
