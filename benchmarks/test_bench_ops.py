"""Each op's forward and backward per implementation, at SimpleNet's first layer (784 -> 128, ReLU)
and its loss (10 classes), batch 64 and 1024:
  functional  - functional.py, the readable maths;
  fused       - the custom ops of kernels/ (C++ on the CPU, CUDA on a GPU);
  torch       - what the seed runs (F.linear + relu, F.cross_entropy) forward, autograd backward.

    pytest benchmarks/test_bench_ops.py --benchmark-group-by=group --benchmark-columns=median,iqr,rounds
"""
import pytest
import torch
import torch.nn.functional as F

from minitorch_clf import functional as MF
from minitorch_clf import ops

from conftest import DEVICES

BATCHES = [64, 1024]


def _linear_inputs(device, n):
    g = torch.Generator().manual_seed(n)
    x = torch.randn(n, 784, generator=g).to(device)
    w, b = torch.randn(128, 784, generator=g).to(device), torch.randn(128, generator=g).to(device)
    return x, w, b, torch.randn(n, 128, generator=g).to(device)


def _load(device):
    ops.load_cuda() if device == "cuda" else ops.load()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("impl", ["functional", "fused", "torch"])
def test_linear_relu_forward(benchmark, sync, device, n, impl):
    benchmark.group = f"linear+relu forward {device} batch {n}"
    x, w, b, _ = _linear_inputs(device, n)
    _load(device)
    run = {"functional": lambda: MF.relu_forward(MF.linear_forward(x, w, b)[0])[0],
           "fused": lambda: ops.linear_forward(x, w, b, "relu"),
           "torch": lambda: torch.relu(F.linear(x, w, b))}[impl]
    benchmark(lambda: (run(), sync()))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("impl", ["functional", "fused", "torch"])
def test_linear_relu_backward(benchmark, sync, device, n, impl):
    benchmark.group = f"linear+relu backward {device} batch {n}"
    x, w, b, dout = _linear_inputs(device, n)
    _load(device)
    if impl == "functional":
        z, lin = MF.linear_forward(x, w, b)
        out, mask = MF.relu_forward(z)
        run = lambda: MF.linear_backward(MF.relu_backward(dout, mask), lin, need_dx=False)
    elif impl == "fused":
        out, saved = ops.linear_forward(x, w, b, "relu")
        run = lambda: ops.linear_backward(dout, x, w, saved, "relu", False)
    else:
        wr, br = w.clone().requires_grad_(), b.clone().requires_grad_()

        def run():
            torch.relu(F.linear(x, wr, br)).backward(dout)   # includes the forward: autograd needs it
    benchmark(lambda: (run(), sync()))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n", BATCHES)
@pytest.mark.parametrize("impl", ["functional", "fused", "torch"])
def test_cross_entropy_forward_backward(benchmark, sync, device, n, impl):
    benchmark.group = f"cross-entropy forward+backward {device} batch {n}"
    g = torch.Generator().manual_seed(n)
    z, y = torch.randn(n, 10, generator=g).to(device), torch.randint(0, 10, (n,), generator=g).to(device)
    _load(device)
    one = torch.ones((), device=device)
    if impl == "functional":
        run = lambda: MF.cross_entropy_backward(one, MF.cross_entropy_forward(z, y)[1])
    elif impl == "fused":
        run = lambda: ops.cross_entropy_forward_backward(z, y)
    else:
        zr = z.clone().requires_grad_()
        run = lambda: F.cross_entropy(zr, y).backward()
    benchmark(lambda: (run(), sync()))
