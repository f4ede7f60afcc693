"""The optimizers against PyTorch's own optimizer tests: optim_db's configurations and error inputs.

Every configuration torch tests SGD, Adam, AdamW and RMSprop with (torch.testing._internal.common_optimizers)
runs through ours with each update path - the readable loop, the foreach default and fused=True -
on float64 parameters of several shapes, one of them non-contiguous, and must match torch.optim
to 1e-10 over 5 steps. Every error input must raise torch's exception type with a message matching
torch's pattern (or give its warning).
"""
import re
import warnings

import pytest
import torch
from torch.testing._internal.common_optimizers import OptimizerErrorEnum, optim_db

from minitorch_clf import optim as ours

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
def test_tensor_lr_and_the_keywords_of_torchs_signatures(name):
    # a float64 lr tensor: torch computes Adam's step size in the tensor's dtype, ours reads it as a float
    lr = torch.tensor(0.01, dtype=torch.float64)
    follow(name, {"lr": lr}, {"lr": lr, "foreach": False, "differentiable": False})
    if name != "SGD":
        follow(name, {"lr": 0.01, "capturable": False}, {"lr": 0.01, "capturable": False})
        with pytest.raises(ValueError, match="capturable=True"):
            getattr(ours, name)(params(0), capturable=True)
    with pytest.raises(ValueError, match="differentiable=True"):
        getattr(ours, name)(params(0), differentiable=True)


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
