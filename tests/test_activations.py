"""Every activation of functional.ACTIVATIONS, from the one table: parity with its torch module in
float64 and float32, finite differences and gradcheck of our backward, the upstream-gradient check,
and the engines training with it (the manual engine following the seed's within 1e-10 in float64).
Adding an activation to the table adds it here, to `minitorch-clf check` and to `train --activation`."""
import re

import pytest
import torch

from minitorch_clf import functional as MF
from minitorch_clf.checks import ActivationFunction, check_activation
from minitorch_clf.engines import ENGINES, build_engine

NAMES = list(MF.ACTIVATIONS)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_parity_and_finite_differences(name, dtype):
    rows = check_activation(name, dtype, torch.device("cpu"), torch.Generator().manual_seed(3))
    assert [r.check for r in rows] == ["parity", "parity", "finite-diff"]
    assert all(r.passed for r in rows), rows


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_any_shape(name):
    x = torch.randn(2, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    assert torch.autograd.gradcheck(lambda t: ActivationFunction.apply(t, name), [x.requires_grad_()])


@pytest.mark.parametrize("name", NAMES)
def test_backward_checks_the_upstream_gradient(name):
    forward, backward = MF.ACTIVATIONS[name]
    _, cache = forward(torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"dout.*\(3, 4\)"):
        backward(torch.randn(4, 3), cache)
    with pytest.raises(TypeError, match="dout"):
        backward(torch.randn(3, 4, dtype=torch.float64), cache)


def test_gelu_approximate_names_its_argument():
    with pytest.raises(ValueError, match="approximate"):
        MF.gelu_forward(torch.randn(3), approximate="erf")


@pytest.mark.parametrize("name", NAMES)
def test_manual_follows_the_seed_with_every_activation(name):
    ref, manual = (build_engine(e, optimizer="sgd", lr=0.1, momentum=0.9, dtype=torch.float64, seed=2, activation=name)
                   for e in ("reference", "manual"))
    g = torch.Generator().manual_seed(0)
    for _ in range(4):
        x, y = torch.randn(16, 784, dtype=torch.float64, generator=g), torch.randint(0, 10, (16,), generator=g)
        torch.testing.assert_close(manual.step(x, y), ref.step(x, y), rtol=1e-10, atol=0)


@pytest.mark.parametrize("engine", [e for e in ENGINES if e != "reference"])
def test_every_engine_takes_an_activation_or_refuses_it_by_name(engine):
    x, y = torch.randn(8, 784), torch.randint(0, 10, (8,))
    ref = build_engine("reference", optimizer="sgd", activation="identity")
    eng = build_engine(engine, optimizer="sgd", activation="identity")       # every engine has identity
    for _ in range(3):
        torch.testing.assert_close(eng.step(x, y), ref.step(x, y), rtol=1e-5, atol=1e-6)
    build_engine(engine, activation="tanh").step(x, y)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fused_follows_manual_with_every_activation(name, optimizer):
    """Every activation runs inside the fused ops (kernels/common/activation.h; float64 takes the ATen
    product and the ops' own pass): the same steps as the manual engine, to rounding."""
    manual, fused = (build_engine(e, optimizer=optimizer, lr=0.05, dtype=torch.float64, seed=2, activation=name)
                     for e in ("manual", "fused"))
    g = torch.Generator().manual_seed(0)
    for _ in range(4):
        x, y = torch.randn(16, 784, dtype=torch.float64, generator=g), torch.randint(0, 10, (16,), generator=g)
        torch.testing.assert_close(fused.step(x, y), manual.step(x, y), rtol=1e-10, atol=0)
    for (n, a), b in zip(manual.model.state_dict().items(), fused.model.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-12, msg=n)


def test_unknown_activation():
    with pytest.raises(ValueError, match="activation.*swish"):
        build_engine("manual", activation="swish")


def test_every_activation_table_has_the_same_names():
    """The maths' ACTIVATIONS is the source; the torch modules (ReferenceNet, the parity checks), the fused
    kernels' enum (its names in kernels/common/activation.h, read without building) and the jax peer each
    name the same activations."""
    from minitorch_clf.functional import TORCH_ACTIVATIONS
    from minitorch_clf.ops import kernel_dir

    names = sorted(MF.ACTIVATIONS)
    assert sorted(TORCH_ACTIVATIONS) == names
    header = (kernel_dir() / "common" / "activation.h").read_text()
    enum = re.search(r"kActivationNames\[kActivations\] = \{([^}]*)\}", header).group(1)
    assert sorted(re.findall(r'"(\w+)"', enum)) == names
    assert set(MF.BACKWARD_READS_INPUT) <= set(names)
    jax = pytest.importorskip("jax")
    from minitorch_clf.engines.jax_step import jax_activations

    assert sorted(jax_activations(jax, jax.numpy)) == names
