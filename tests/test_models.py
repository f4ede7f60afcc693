"""Layers and the whole SimpleNet against nn.Module + autograd, and against finite differences."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from minitorch_clf import layers as L
from minitorch_clf.checks import check_simplenet, finite_difference
from minitorch_clf.models import MLPConfig, ReferenceNet, SimpleNet


@pytest.mark.parametrize("kw,word", [({"hidden": (0,)}, "hidden"), ({"hidden": (128, -1)}, "hidden"),
                                     ({"hidden": (1.5,)}, "hidden"), ({"in_features": 0}, "in_features"),
                                     ({"num_classes": 0}, "num_classes"), ({"num_classes": True}, "num_classes")])
def test_config_refuses_a_network_that_cannot_exist(kw, word):
    """A zero-width layer was built (and trained into NaN-free nonsense); the CLI refused it, the library did not."""
    with pytest.raises(ValueError, match=f"^{word}: expected"):
        MLPConfig(**kw)


def test_linear_init_bit_identical_to_nn_linear():
    for shape in ((784, 128), (7, 3), (1, 1)):
        torch.manual_seed(42)
        ours = L.Linear(*shape)
        torch.manual_seed(42)
        ref = nn.Linear(*shape)
        assert torch.equal(ours.weight, ref.weight) and torch.equal(ours.bias, ref.bias)


@pytest.mark.parametrize("config", [MLPConfig(), MLPConfig(in_features=12, hidden=(9, 7, 5), num_classes=3)])
def test_simplenet_init_and_state_dict_both_ways(config):
    torch.manual_seed(0)
    ours = SimpleNet(config)
    torch.manual_seed(0)
    ref = ReferenceNet(config)
    sd_ours, sd_ref = ours.state_dict(), ref.state_dict()
    assert list(sd_ours) == list(sd_ref)
    assert list(sd_ours)[:2] == ["fc1.weight", "fc1.bias"]
    assert all(torch.equal(sd_ours[k], sd_ref[k]) for k in sd_ref)
    other = ReferenceNet(config)
    other.load_state_dict(sd_ours)
    ours2 = SimpleNet(config)
    ours2.load_state_dict(other.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(ours2.parameters(), ours.parameters()))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("batch", [1, 3, 64])
def test_simplenet_parity_every_gradient(dtype, batch):
    gen = torch.Generator().manual_seed(batch)
    rows = check_simplenet(dtype, torch.device("cpu"), gen, batch=batch, fd_coords=4)
    failed = [r for r in rows if not r.passed]
    assert not failed, failed
    assert {r.tensor for r in rows if r.check == "parity"} >= {"logits", "loss", "dfc1.weight", "dfc3.bias"}


def test_simplenet_finite_difference_every_coordinate_small_net():
    """All coordinates of every parameter, on a net small enough to difference fully."""
    config = MLPConfig(in_features=6, hidden=(5, 4), num_classes=3)
    torch.manual_seed(1)
    net = SimpleNet(config).double()
    x = torch.randn(4, 6, dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 2])
    crit = L.CrossEntropyLoss()
    crit(net(x), y)
    net.backward(crit.backward())
    for p in net.parameters():
        idx, est = finite_difference(lambda: L.CrossEntropyLoss()(net(x), y), p.data, None, torch.Generator())
        assert ((p.grad.reshape(-1)[idx] - est).abs().max() / est.abs().max()).item() < 1e-6


def test_input_gradient_and_flattening():
    torch.manual_seed(2)
    net = SimpleNet().double()
    ref = ReferenceNet().double()
    ref.load_state_dict(net.state_dict())
    x = torch.randn(5, 1, 28, 28, dtype=torch.float64)
    dlogits = torch.randn(5, 10, dtype=torch.float64)
    net(x)
    dx = net.backward(dlogits)
    xr = x.clone().requires_grad_()
    ref(xr).backward(dlogits)
    torch.testing.assert_close(dx.reshape(x.shape), xr.grad, rtol=1e-10, atol=0)
    with pytest.raises(ValueError, match="784"):
        net(torch.randn(5, 700, dtype=torch.float64))


def test_backward_accumulates_like_autograd_and_torch_optim_steps():
    torch.manual_seed(3)
    net, ref = SimpleNet(), ReferenceNet()
    ref.load_state_dict(net.state_dict())
    x, y = torch.randn(8, 784), torch.randint(0, 10, (8,))
    crit = L.CrossEntropyLoss()
    for _ in range(2):                               # two backwards without zero_grad: grads add up
        crit(net(x), y)
        net.backward(crit.backward())
        F.cross_entropy(ref(x), y).backward()
    for (name, p), q in zip(net.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)
    opt_ours, opt_ref = torch.optim.SGD(net.parameters(), lr=0.1), torch.optim.SGD(ref.parameters(), lr=0.1)
    opt_ours.step()
    opt_ref.step()
    for p, q in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q)


def test_layers_refuse_backward_without_forward():
    with pytest.raises(RuntimeError, match="without a forward"):
        L.ReLU().backward(torch.randn(3))
    crit = L.CrossEntropyLoss(reduction="none")
    crit(torch.randn(3, 4), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="dloss"):
        crit.backward()


def test_no_autograd_graph_is_built():
    net = SimpleNet()
    out = net(torch.randn(2, 784))
    assert out.grad_fn is None and not out.requires_grad
