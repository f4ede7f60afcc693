"""GPU checks of the hand-written path: collected everywhere, skipped where no CUDA GPU is present."""
import pytest
import torch

from minitorch_clf import data as D
from minitorch_clf.checks import run_checks
from minitorch_clf.engines import build_engine
from minitorch_clf.train import TrainConfig, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_checks_pass_on_cuda(dtype):
    rows = run_checks(dtype, "cuda")
    assert all(r.passed for r in rows), [r for r in rows if not r.passed]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_manual_matches_reference_on_cuda(optimizer):
    engines = [build_engine(n, optimizer=optimizer, device="cuda", dtype=torch.float64) for n in ("reference", "manual")]
    g = torch.Generator().manual_seed(0)
    for _ in range(10):
        x = torch.randn(32, 784, generator=g, dtype=torch.float64).cuda()
        y = torch.randint(0, 10, (32,), generator=g).cuda()
        a, b = (e.step(x, y) for e in engines)
        torch.testing.assert_close(b, a, rtol=1e-10, atol=0)


def test_cuda_matches_cpu_float64():
    cpu, gpu = (build_engine("manual", optimizer="adam", device=d, dtype=torch.float64) for d in ("cpu", "cuda"))
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        x, y = torch.randn(16, 784, generator=g, dtype=torch.float64), torch.randint(0, 10, (16,), generator=g)
        torch.testing.assert_close(gpu.step(x.cuda(), y.cuda()).cpu(), cpu.step(x, y), rtol=1e-10, atol=0)


def test_tensor_loader_on_cuda_matches_cpu():
    split = D.synthetic_mnist(200)
    a = list(D.TensorLoader(split, 64, device="cuda").epoch(0))
    b = list(D.TensorLoader(split, 64).epoch(0))
    assert all(torch.equal(xa.cpu(), xb) and torch.equal(ya.cpu(), yb) for (xa, ya), (xb, yb) in zip(a, b))


def test_train_on_cuda(tmp_path):
    result = train(TrainConfig(device="cuda", epochs=2), tmp_path / "run", progress=False, log=lambda *a: None)
    assert result.metrics[-1]["test_accuracy"] > 0.85
