"""One optimizer step over SimpleNet's parameters: ours (loop, foreach, fused C++ kernel) against
torch.optim's default.

    pytest benchmarks/test_bench_optim.py --benchmark-group-by=group
"""
import pytest
import torch

from minitorch_clf import optim as ours
from minitorch_clf.models import SimpleNet

KINDS = {
    "ours-loop": lambda cls_name, ps, kw: getattr(ours, cls_name)(ps, foreach=False, **kw),
    "ours-foreach": lambda cls_name, ps, kw: getattr(ours, cls_name)(ps, foreach=True, **kw),
    "ours-fused": lambda cls_name, ps, kw: getattr(ours, cls_name)(ps, fused=True, **kw),
    "torch.optim": lambda cls_name, ps, kw: getattr(torch.optim, cls_name)(ps, **kw),
}
OPTIMIZERS = {"sgd-momentum": ("SGD", {"lr": 0.01, "momentum": 0.9}), "adam": ("Adam", {"lr": 1e-3})}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_optimizer_step(benchmark, opt_name, kind):
    benchmark.group = f"optimizer step: {opt_name}"
    torch.manual_seed(0)
    net = SimpleNet()
    for p in net.parameters():
        p.grad = torch.randn_like(p)
    cls_name, kw = OPTIMIZERS[opt_name]
    opt = KINDS[kind](cls_name, list(net.parameters()), kw)
    opt.step()                                  # state allocated outside the timing
    benchmark(opt.step)
