"""Hand-written SGD / Adam / AdamW against torch.optim, step for step, state for state."""
import copy

import pytest
import torch

from minitorch_clf import optim as ours
from minitorch_clf.models import SimpleNet

STEPS = 100

# the option matrix torch's own optimizer tests walk through
SGD_CASES = [
    {},
    {"momentum": 0.9},
    {"momentum": 0.9, "dampening": 0.5},
    {"momentum": 0.9, "weight_decay": 0.1},
    {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
    {"momentum": 0.9, "maximize": True, "weight_decay": 0.1},
    {"weight_decay": 0.1, "maximize": True},
]
ADAM_CASES = [
    {},
    {"weight_decay": 0.1},
    {"amsgrad": True},
    {"amsgrad": True, "weight_decay": 0.1, "maximize": True},
    {"maximize": True, "weight_decay": 0.1},
    {"betas": (0.8, 0.9), "eps": 1e-6},
]
CASES = ([("SGD", kw) for kw in SGD_CASES] + [("Adam", kw) for kw in ADAM_CASES]
         + [("AdamW", kw) for kw in ADAM_CASES + [{"weight_decay": 0.0}]])


def make_params(dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = [(7, 5), (5,), (3, 7), (1,)]
    return [torch.randn(s, dtype=dtype, generator=g).requires_grad_() for s in shapes]


def clone_params(params):
    return [p.detach().clone().requires_grad_() for p in params]


def run(opt_cls, params, kw, steps, grads_seed=1, groups=None, none_grad_index=None):
    g = torch.Generator().manual_seed(grads_seed)
    opt = opt_cls(groups(params) if groups else params, **kw)
    for _ in range(steps):
        for i, p in enumerate(params):
            p.grad = None if i == none_grad_index else torch.randn(p.shape, dtype=p.dtype, generator=g)
        opt.step()
    return opt


def assert_close(a, b, dtype):
    if dtype == torch.float64:
        torch.testing.assert_close(a, b, rtol=1e-12, atol=0)
    else:
        torch.testing.assert_close(a, b)


def assert_same_state(opt_a, params_a, opt_b, params_b, dtype):
    for pa, pb in zip(params_a, params_b):
        assert_close(pa, pb, dtype)
        sa, sb = opt_a.state[pa], opt_b.state[pb]
        assert set(sa) == set(sb), (set(sa), set(sb))
        for key in sa:
            assert_close(sa[key], sb[key], dtype)


IMPLS = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{kw}" for n, kw in CASES])
def test_matches_torch_optim(name, kw, impl, dtype):
    lr = {"SGD": 0.05}.get(name, 0.01)
    params = make_params(dtype)
    mine = clone_params(params)
    ref = run(getattr(torch.optim, name), params, dict(kw, lr=lr, foreach=False), STEPS)
    opt = run(getattr(ours, name), mine, dict(kw, lr=lr, **IMPLS[impl]), STEPS)
    assert_same_state(opt, mine, ref, params, dtype)
    assert not torch.equal(mine[0], make_params(dtype)[0])            # it moved


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{kw}" for n, kw in CASES])
def test_loop_and_foreach_agree(name, kw):
    a, b = make_params(torch.float32), make_params(torch.float32)
    opt_a = run(getattr(ours, name), a, dict(kw, foreach=False), 50)
    opt_b = run(getattr(ours, name), b, dict(kw, foreach=True), 50)
    assert_same_state(opt_a, a, opt_b, b, torch.float32)
    assert all(torch.equal(pa, pb) for pa, pb in zip(a, b)), "same operations, same order: same bits"


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_param_groups_and_none_grad(name, impl):
    groups = lambda ps: [{"params": ps[:2]}, {"params": ps[2:], "lr": 0.003}]
    kw = {"lr": 0.01, "momentum": 0.9} if name == "SGD" else {"lr": 0.01}
    params = make_params(torch.float64)
    mine = clone_params(params)
    ref = run(getattr(torch.optim, name), params, kw, 30, groups=groups, none_grad_index=1)
    opt = run(getattr(ours, name), mine, dict(kw, **IMPLS[impl]), 30, groups=groups, none_grad_index=1)
    assert_same_state(opt, mine, ref, params, torch.float64)
    assert mine[1].grad is None and not opt.state[mine[1]]            # skipped: no state created
    assert torch.equal(mine[1], make_params(torch.float64)[1])


@pytest.mark.parametrize("name,kw", [("SGD", {"momentum": 0.9, "nesterov": True}),
                                     ("Adam", {"amsgrad": True}), ("AdamW", {})])
@pytest.mark.parametrize("direction", ["ours->torch", "torch->ours"])
def test_state_dicts_interchange(name, kw, direction):
    src_cls, dst_cls = (getattr(ours, name), getattr(torch.optim, name))
    if direction == "torch->ours":
        src_cls, dst_cls = dst_cls, src_cls
    params = make_params(torch.float64)
    src = run(src_cls, params, dict(kw, lr=0.01), 20)
    # continue the same run two ways: with the source optimizer, and with a fresh one of the other kind
    cont_params = clone_params(params)
    dst = dst_cls(cont_params, lr=0.5, **kw)
    dst.load_state_dict(copy.deepcopy(src.state_dict()))
    assert dst.param_groups[0]["lr"] == 0.01
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    for _ in range(20):
        for p, q in zip(params, cont_params):
            p.grad = torch.randn(p.shape, dtype=p.dtype, generator=g1)
            q.grad = torch.randn(q.shape, dtype=q.dtype, generator=g2)
        src.step()
        dst.step()
    for p, q in zip(params, cont_params):
        torch.testing.assert_close(q, p, rtol=1e-12, atol=0)


def test_fused_and_foreach_together_rejected():
    with pytest.raises(RuntimeError, match="fused"):
        ours.SGD(make_params(torch.float32), fused=True, foreach=True)


@pytest.mark.parametrize("name,dtype", [(name, dtype) for name in ("SGD", "Adam", "AdamW")
                                        for dtype in (torch.int64, torch.float16)] + [("SGD", torch.complex64)])
def test_fused_refuses_at_construction_what_its_kernels_cannot_update(name, dtype):
    """The fused kernels take float32 and float64 (Adam's complex params as real pairs): another dtype is
    refused before any state exists (it was accepted, and failed at the first step)."""
    params = [torch.zeros(3), torch.zeros(3, dtype=dtype)]
    with pytest.raises(RuntimeError, match=rf"fused=True` requires .*float32 or float64.*params\[1\] is {dtype}"):
        getattr(ours, name)(params, fused=True)


def test_scheduler_and_zero_grad():
    params = make_params(torch.float32)
    opt = ours.SGD(params, lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.5
    opt.zero_grad()
    assert all(p.grad is None for p in params)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_trains_manual_simplenet(name):
    from minitorch_clf.layers import CrossEntropyLoss
    torch.manual_seed(0)
    net, crit = SimpleNet(), CrossEntropyLoss()
    kw = {"lr": 0.05, "momentum": 0.9} if name == "SGD" else {"lr": 0.01}
    opt = getattr(ours, name)(net.parameters(), **kw)
    x, y = torch.randn(32, 784), torch.randint(0, 10, (32,))
    losses = []
    for _ in range(30):
        opt.zero_grad()
        losses.append(crit(net(x), y).item())
        net.backward(crit.backward())
        opt.step()
    assert losses[-1] < 0.1 * losses[0]


@pytest.mark.parametrize("cls,kw,words", [
    (ours.SGD, {"lr": -0.1}, ["learning rate", "-0.1"]),
    (ours.SGD, {"momentum": -0.5}, ["momentum", "-0.5"]),
    (ours.SGD, {"weight_decay": -1e-3}, ["weight_decay", "-0.001"]),
    (ours.SGD, {"nesterov": True}, ["Nesterov", "momentum=0"]),
    (ours.SGD, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, ["Nesterov", "dampening=0.1"]),
    (ours.Adam, {"lr": -1.0}, ["learning rate"]),
    (ours.Adam, {"eps": -1e-8}, ["epsilon", "-1e-08"]),
    (ours.Adam, {"betas": (1.0, 0.999)}, ["beta", "index 0", "1.0"]),
    (ours.Adam, {"betas": (0.9, -0.1)}, ["beta", "index 1"]),
    (ours.AdamW, {"weight_decay": -0.1}, ["weight_decay"]),
])
def test_bad_hyperparameters(cls, kw, words):
    with pytest.raises(ValueError) as info:
        cls(make_params(torch.float32), **kw)
    for w in words:
        assert w in str(info.value)
    # torch rejects the same values
    with pytest.raises(ValueError):
        getattr(torch.optim, cls.__name__)(make_params(torch.float32), **kw)
