"""PyTorch's own test inputs against the hand-written maths (functional.py).

The OpInfo samples of nn.functional.linear / relu / cross_entropy (torch's op_db) and the ModuleInfo
samples of nn.Linear / ReLU / CrossEntropyLoss (module_db) - batch shapes, unbatched inputs, spatial
cross-entropy, probability targets, weights, ignore_index, smoothing, every reduction - each run
through our forward and backward and compared with torch's forward and autograd on the same
values and a random upstream gradient. A new case torch adds to its own suite is found here.
"""
import pytest
import torch
import torch.nn.functional as F
from torch.testing._internal.common_methods_invocations import op_db
from torch.testing._internal.common_modules import module_db

from minitorch_clf import cross_entropy_general as CEG
from minitorch_clf import functional as MF

OPS = {o.name: o for o in op_db if o.name in ("nn.functional.linear", "nn.functional.relu", "nn.functional.cross_entropy")}
MODULES = {m.module_cls: m for m in module_db if m.module_cls in (torch.nn.Linear, torch.nn.ReLU, torch.nn.CrossEntropyLoss)}
DTYPES = [torch.float64, torch.float32]
CE_KEYS = ("weight", "ignore_index", "reduction", "label_smoothing")


def close(ours, ref, dtype):
    """float64: relative 1e-10 (the project's parity bound); float32: assert_close's defaults."""
    if dtype == torch.float64:
        torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12, equal_nan=True)
    else:
        torch.testing.assert_close(ours, ref, equal_nan=True)


def upstream(out: torch.Tensor) -> torch.Tensor:
    return torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(out.numel()))


def check_linear(x, w, b, dtype):
    xr, wr = x.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
    br = None if b is None else b.detach().clone().requires_grad_()
    ref = F.linear(xr, wr, br)
    out, cache = MF.linear_forward(x.detach(), w.detach(), None if b is None else b.detach())
    close(out, ref.detach(), dtype)
    g = upstream(ref)
    ref.backward(g)
    dx, dw, db = MF.linear_backward(g, cache)
    close(dx, xr.grad, dtype)
    close(dw, wr.grad, dtype)
    if b is not None:
        close(db, br.grad, dtype)


def check_relu(x, dtype):
    xr = x.detach().clone().requires_grad_()
    ref = F.relu(xr)
    out, cache = MF.relu_forward(x.detach())
    close(out, ref.detach(), dtype)
    g = upstream(ref)
    ref.backward(g)
    close(MF.relu_backward(g, cache), xr.grad, dtype)


def check_cross_entropy(z, target, kw, dtype):
    zr = z.detach().clone().requires_grad_()
    ref = F.cross_entropy(zr, target, **kw)
    loss, cache = CEG.cross_entropy_forward(z.detach(), target, **kw)
    close(loss, ref.detach(), dtype)
    g = upstream(ref)
    ref.backward(g)
    close(CEG.cross_entropy_backward(g, cache), zr.grad, dtype)


def op_samples(name):
    return [(dtype, s) for dtype in DTYPES for s in OPS[name].sample_inputs("cpu", dtype, requires_grad=False)]


def module_samples(cls):
    info = MODULES[cls]
    return [(dtype, s) for dtype in DTYPES
            for s in info.module_inputs_func(info, device="cpu", dtype=dtype, requires_grad=False, training=True)]


@pytest.mark.parametrize("dtype,sample", op_samples("nn.functional.linear"))
def test_linear_opinfo(dtype, sample):
    check_linear(sample.input, sample.args[0], sample.args[1] if len(sample.args) > 1 else sample.kwargs.get("bias"),
                 dtype)


@pytest.mark.parametrize("dtype,sample", op_samples("nn.functional.relu"))
def test_relu_opinfo(dtype, sample):
    check_relu(sample.input, dtype)


@pytest.mark.parametrize("dtype,sample", op_samples("nn.functional.cross_entropy"))
def test_cross_entropy_opinfo(dtype, sample):
    check_cross_entropy(sample.input, sample.args[0], sample.kwargs, dtype)


@pytest.mark.parametrize("dtype,sample", module_samples(torch.nn.Linear))
def test_linear_moduleinfo(dtype, sample):
    torch.manual_seed(0)
    module = torch.nn.Linear(*sample.constructor_input.args, **sample.constructor_input.kwargs, dtype=dtype)
    (x,) = sample.forward_input.args or (sample.forward_input.kwargs["input"],)
    check_linear(x, module.weight, module.bias, dtype)


@pytest.mark.parametrize("dtype,sample", module_samples(torch.nn.ReLU))
def test_relu_moduleinfo(dtype, sample):
    check_relu(sample.forward_input.args[0], dtype)


@pytest.mark.parametrize("dtype,sample", module_samples(torch.nn.CrossEntropyLoss))
def test_cross_entropy_moduleinfo(dtype, sample):
    kw = {k: v for k, v in sample.constructor_input.kwargs.items() if k in CE_KEYS}
    assert set(sample.constructor_input.kwargs) <= set(CE_KEYS), sample.constructor_input.kwargs
    check_cross_entropy(*sample.forward_input.args, kw, dtype)


def test_the_samples_are_there():
    """The parametrisations above are not empty (a torch upgrade that renames them fails here)."""
    counts = {name: len(op_samples(name)) for name in OPS} | {c.__name__: len(module_samples(c)) for c in MODULES}
    assert len(counts) == 6 and all(n > 0 for n in counts.values()), counts
