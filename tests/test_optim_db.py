"""The optimizers against PyTorch's own optimizer tests: optim_db's configurations and error inputs.

Every configuration torch tests SGD, Adam, AdamW and RMSprop with (torch.testing._internal.common_optimizers)
runs through ours with each update path - the readable loop, the foreach default and fused=True -
on float64 parameters of several shapes, one of them non-contiguous, and must match torch.optim
to 1e-10 over 5 steps. The same configurations with torch's global flags (foreach, fused,
differentiable, capturable; the CUDA list too, run on CPU tensors) must each match torch or be
refused exactly where torch refuses them. Every error input must raise torch's exception type with
a message matching torch's pattern (or give its warning).
"""
import re
import warnings

import pytest
import torch
from torch.testing._internal.common_optimizers import (OptimizerErrorEnum, _get_optim_inputs_including_global_cliquey_kwargs,
                                                       optim_db)

from minitorch_clf import optim as ours
from minitorch_clf.hypergradient import finite_difference, hypergradient

INFOS = {i.optim_cls.__name__: i for i in optim_db if i.optim_cls.__name__ in ("SGD", "Adam", "AdamW", "RMSprop")}
PATHS = {"loop": {"foreach": False}, "foreach": {}, "fused": {"fused": True}}


def configs():
    return [(name, path, oi) for name, info in INFOS.items() for oi in info.optim_inputs_func(device="cpu")
            for path in PATHS if not (name == "RMSprop" and path == "fused")]       # RMSprop has no fused kernel


def errors():
    return [(name, ei) for name, info in INFOS.items() for ei in info.optim_error_inputs_func(device="cpu",
                                                                                           dtype=torch.float64)]


def params(seed: int, complex_too: bool = False) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ps = [torch.randn(3, 4, dtype=torch.float64, generator=g), torch.randn(5, dtype=torch.float64, generator=g),
          torch.randn(3, 4, dtype=torch.float64, generator=g).T]                        # non-contiguous
    if complex_too:
        ps.append(torch.randn(4, dtype=torch.complex128, generator=g))
    return ps


def follow(name, kw_torch, kw_ours, complex_too=False, steps=5):
    ref = params(0, complex_too)
    mine = [p.clone() if p.is_contiguous() else p.T.clone().T for p in ref]
    opt_ref, opt = getattr(torch.optim, name)(ref, **kw_torch), getattr(ours, name)(mine, **kw_ours)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        for p, q in zip(ref, mine):
            p.grad = torch.randn(p.shape, dtype=p.dtype, generator=g)
            q.grad = p.grad.clone()
        opt_ref.step()
        opt.step()
    for p, q in zip(ref, mine):
        torch.testing.assert_close(q, p, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,path,oi", configs(), ids=lambda v: getattr(v, "desc", v))
def test_torch_configurations(name, path, oi):
    follow(name, oi.kwargs, {**oi.kwargs, **PATHS[path]})


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("path", list(PATHS))
def test_complex_parameters(name, path):
    """A complex parameter is two real ones (torch's rule), on every path."""
    follow(name, {"lr": 0.01, "weight_decay": 0.1}, {"lr": 0.01, "weight_decay": 0.1, **PATHS[path]}, complex_too=True)


@pytest.mark.parametrize("name", list(INFOS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_a_tensor_lr_keeps_its_dtype_as_in_torch(name, dtype):
    """torch computes a Tensor lr's step size in the tensor's dtype (a float32 lr rounds Adam's to float32);
    reading the lr as a Python float first made Adam and AdamW 2.5e-9 apart from torch in float64. The
    fused path against torch's loop: torch's own fused CPU Adam is 8e-3 off its loop on params(0)'s
    non-contiguous tensor (torch 2.14), and reads a Tensor lr as a double, which ours does too."""
    lr = torch.tensor(0.01, dtype=dtype)
    follow(name, {"lr": lr, "foreach": False}, {"lr": lr, "foreach": False})
    if name != "RMSprop":
        follow(name, {"lr": lr.item(), "foreach": False}, {"lr": lr, "fused": True})


def global_configs():
    """optim_db's configurations with each of torch's global flags set (its own helper), from the CPU and
    the CUDA lists (capturable appears only in the latter), all run on CPU tensors here."""
    return [(device, name, oi) for device in ("cpu", "cuda") for name, info in INFOS.items()
            for oi in _get_optim_inputs_including_global_cliquey_kwargs(device, torch.float64, info)]


def _run(cls, ps, kwargs, steps=3):
    """The params after `steps` steps of cls, or the type of what it raised (at construction or a step)."""
    try:
        opt = cls(ps, **kwargs)
        g = torch.Generator().manual_seed(1)
        for _ in range(steps):
            for p in ps:
                p.grad = torch.randn(p.shape, dtype=p.dtype, generator=g)
            opt.step()
    except Exception as e:                     # noqa: BLE001 - the type is the outcome compared
        return type(e)
    return ps


@pytest.mark.parametrize("device,name,oi", global_configs(),
                         ids=lambda v: getattr(v, "desc", v).replace(" ", "_") if not isinstance(v, dict) else "")
def test_every_configuration_with_torchs_global_flags(device, name, oi):
    """optim_db at 100%: each configuration matches torch, or both refuse it with one exception type (torch
    refuses capturable=True for CPU tensors: nothing to capture there). Contiguous params only: torch's
    fused CPU Adam is off on a non-contiguous one (test_a_tensor_lr_keeps_its_dtype_as_in_torch)."""
    contiguous = lambda: params(0)[:2]
    ref, mine = _run(INFOS[name].optim_cls, contiguous(), oi.kwargs), _run(getattr(ours, name), contiguous(), oi.kwargs)
    if isinstance(ref, type) or isinstance(mine, type):
        assert ref == mine, (ref, mine)
        return
    for p, q in zip(ref, mine):
        torch.testing.assert_close(q, p, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,kw", [("Adam", {}), ("Adam", {"amsgrad": True, "weight_decay": 0.1}),
                                     ("AdamW", {"lr": torch.tensor(0.01), "betas": (torch.tensor(0.9), torch.tensor(0.99))}),
                                     ("RMSprop", {"momentum": 0.5, "centered": True}),
                                     ("RMSprop", {"lr": torch.tensor(0.01), "foreach": True})])
def test_capturable_maths_on_the_cpu(monkeypatch, name, kw):
    """capturable=True computes the step on the parameters' device (a GPU: tests/test_cuda.py captures it in a
    graph); here both torch's and ours are let run on the CPU to compare the maths to 1e-10."""
    import torch.optim.adam as torch_adam
    import torch.optim.rmsprop as torch_rmsprop

    monkeypatch.setattr(ours.common, "CAPTURABLE_DEVICES", ("cuda", "cpu"))
    for module in (torch_adam, torch_rmsprop):
        monkeypatch.setattr(module, "_get_capturable_supported_devices", lambda *a, **k: ["cuda", "cpu"])
    follow(name, {**kw, "capturable": True}, {**kw, "capturable": True})
    opt = getattr(ours, name)(params(0), capturable=True, **kw)
    assert all(st["step"].device.type == "cpu" for st in opt.state.values())


HYPER = [("sgd", 0.05, {}), ("sgd", 0.05, {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
         ("adam", 0.01, {}), ("adam", 0.01, {"amsgrad": True, "weight_decay": 0.1}), ("adamw", 0.01, {}),
         ("rmsprop", 0.003, {"momentum": 0.5, "centered": True}), ("rmsprop", 0.003, {})]


@pytest.mark.parametrize("optimizer,lr,kw", HYPER)
def test_differentiable_hypergradient_matches_finite_differences(optimizer, lr, kw):
    """differentiable=True: d(validation loss after 5 steps)/d(lr) through every update (and through each
    step's gradient, taken with create_graph) against central differences that use no autograd."""
    got, expected = hypergradient(lr, optimizer, **kw), finite_difference(lr, optimizer, **kw)
    assert got == pytest.approx(expected, rel=1e-5), (got, expected)
    assert expected != 0


@pytest.mark.parametrize("name", list(INFOS))
def test_differentiable_step_gradcheck(name):
    """One differentiable step's outputs (params, state) against gradcheck's finite differences, with respect
    to the param, its gradient and a Tensor lr (the check torch's own optimizer tests make)."""
    def step(p, grad, lr):
        p = p.clone()
        p.grad = grad
        opt = getattr(ours, name)([p], lr=lr, differentiable=True,
                                  **({"momentum": 0.9} if name in ("SGD", "RMSprop") else {}))
        opt.step()
        opt.step()
        return (p,) + tuple(v for v in opt.state[p].values() if v.requires_grad)

    g = torch.Generator().manual_seed(3)
    p, grad = (torch.randn(5, dtype=torch.float64, generator=g).requires_grad_() for _ in range(2))
    lr = torch.tensor(0.01, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(step, (p, grad, lr))


def test_differentiable_with_foreach_is_refused_as_torch_refuses_it():
    for name in ("Adam", "RMSprop"):
        p = torch.randn(3, dtype=torch.float64, requires_grad=True).clone()
        p.grad = torch.randn(3, dtype=torch.float64)
        with pytest.raises(AssertionError, match="_foreach ops don't support autograd"):
            getattr(ours, name)([p], foreach=True, differentiable=True).step()


def test_adam_decoupled_weight_decay_is_adamw():
    follow("AdamW", {"lr": 0.01, "weight_decay": 0.1}, {"lr": 0.01, "weight_decay": 0.1})
    a, b = params(0), params(0)
    for opt in (ours.Adam(a, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True), ours.AdamW(b, lr=0.01, weight_decay=0.1)):
        for p in opt.param_groups[0]["params"]:
            p.grad = torch.ones_like(p)
        opt.step()
    assert all(torch.equal(p, q) for p, q in zip(a, b))


@pytest.mark.parametrize("name,ei", errors(), ids=lambda v: getattr(getattr(v, "optimizer_error_input", None), "desc", v))
def test_torch_error_inputs(name, ei):
    inp = ei.optimizer_error_input
    ps = inp.params if inp.params is not None else [torch.randn(3, dtype=torch.float64, requires_grad=True)]

    def run():
        opt = getattr(ours, name)(ps, **inp.kwargs)
        if ei.error_on == OptimizerErrorEnum.STEP_ERROR:
            opt.step()

    if issubclass(ei.error_type, Warning):
        with pytest.warns(ei.error_type, match=ei.error_regex):
            run()
    else:
        with pytest.raises(ei.error_type, match=ei.error_regex):
            run()


def test_a_foreign_state_dict_fails_with_a_message():
    p = params(0)
    sgd = torch.optim.SGD(p, lr=0.1, momentum=0.9)
    for t in p:
        t.grad = torch.ones_like(t)
    sgd.step()
    adam = ours.Adam(p)
    adam.load_state_dict({**sgd.state_dict(), "param_groups": adam.state_dict()["param_groups"]})
    with pytest.raises(ValueError, match="momentum_buffer.*another optimizer"):
        adam.step()


def test_the_tables_are_there():
    """torch renaming its test tables must fail here, not make the tests above vanish."""
    assert set(INFOS) == {"SGD", "Adam", "AdamW", "RMSprop"} and len(configs()) >= 30 and len(errors()) >= 20
    warnings.simplefilter("default")
    assert all(re.compile(ei.error_regex) for _, ei in errors())


def test_rmsprop_refuses_fused_by_name():
    with pytest.raises(ValueError, match="fused=True.*RMSprop"):
        ours.RMSprop(params(0), fused=True)
