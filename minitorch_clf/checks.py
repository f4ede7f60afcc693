"""Parity and finite-difference reports for the hand-written maths (`minitorch-clf check`, tests).

Two independent checks per gradient (the project's rule for every hand-written one):
  * parity: our forward and backward against PyTorch's own module run by autograd, same inputs;
  * finite differences: a central difference in float64 of L = Σ out·R (R random), no autograd.

Error measures, per tensor:  max_abs = max|ours - ref|,  max_rel = max_abs / max|ref|  (relative to
the tensor's scale, so entries near zero do not blow it up).  A row passes when
  * float64 parity:    max_rel ≤ 1e-10;
  * float32 parity:    torch.testing.assert_close's default rule, |ours - ref| ≤ 1e-5 + 1.3e-6·|ref|;
  * finite difference: max_rel ≤ 1e-6 (float64, h = 1e-6: truncation ~h², rounding ~1e-16/h).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from . import cross_entropy_general as CEG
from . import functional as MF
from .functional import TORCH_ACTIVATIONS
from .models import MLPConfig, ReferenceNet, SimpleNet
from .errors import expect_one_of
from .table import text_table

PARITY_RTOL_FLOAT64 = 1e-10
FD_RTOL = 1e-6
FD_STEP = 1e-6


@dataclass
class Row:
    check: str          # "parity" or "finite-diff"
    layer: str
    tensor: str
    shape: tuple
    max_abs: float
    max_rel: float
    tol: str
    passed: bool


def _errors(ours: torch.Tensor, ref: torch.Tensor) -> tuple[float, float]:
    diff = (ours.detach().double() - ref.detach().double()).abs()
    max_abs = diff.max().item() if diff.numel() else 0.0
    scale = ref.detach().double().abs().max().item() if ref.numel() else 0.0
    return max_abs, (max_abs / scale if scale > 0 else max_abs)


def parity_row(layer: str, tensor: str, ours: torch.Tensor, ref: torch.Tensor) -> Row:
    max_abs, max_rel = _errors(ours, ref)
    if ours.dtype == torch.float64:
        tol, passed = f"rel {PARITY_RTOL_FLOAT64:.0e}", max_rel <= PARITY_RTOL_FLOAT64
    else:
        tol = "assert_close"
        try:
            torch.testing.assert_close(ours, ref)
            passed = True
        except AssertionError:
            passed = False
    return Row("parity", layer, tensor, tuple(ours.shape), max_abs, max_rel, tol, passed and ours.shape == ref.shape)


def finite_difference(f: Callable[[], torch.Tensor], t: torch.Tensor, n_coords: int | None,
                      gen: torch.Generator, h: float = FD_STEP) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices, estimates) of ∂f/∂t at `n_coords` random flat positions (all when None).

    f() reads `t` (modified in place here and restored); the estimate is (f(t+h) - f(t-h)) / 2h.
    """
    flat = t.view(-1)
    idx = torch.arange(flat.numel()) if n_coords is None or n_coords >= flat.numel() else \
        torch.randperm(flat.numel(), generator=gen)[:n_coords]
    est = torch.empty(len(idx), dtype=torch.float64)
    for k, i in enumerate(idx.tolist()):
        orig = flat[i].item()
        flat[i] = orig + h
        plus = f().item()
        flat[i] = orig - h
        minus = f().item()
        flat[i] = orig
        est[k] = (plus - minus) / (2 * h)
    return idx, est


def fd_row(layer: str, tensor: str, f, t: torch.Tensor, grad: torch.Tensor, n_coords, gen) -> Row:
    idx, est = finite_difference(f, t, n_coords, gen)
    ours = grad.detach().reshape(-1)[idx.to(grad.device)].cpu().double()
    max_abs, max_rel = _errors(ours, est)
    shown = f"{tensor} [{len(idx)} of {t.numel()}]" if len(idx) < t.numel() else tensor
    return Row("finite-diff", layer, shown, tuple(t.shape), max_abs, max_rel, f"rel {FD_RTOL:.0e}", max_rel <= FD_RTOL)


def _rand(*shape, dtype, device, gen):  # shape may be () for a scalar
    return torch.randn(shape, dtype=dtype, generator=gen).to(device)


# ----------------------------------------------------------------------------------------------
# the report

def check_linear(dtype, device, gen) -> list[Row]:
    n, i, o = 5, 7, 3
    x, w, b = (_rand(*s, dtype=dtype, device=device, gen=gen) for s in ((n, i), (o, i), (o,)))
    dout = _rand(n, o, dtype=dtype, device=device, gen=gen)
    out, cache = MF.linear_forward(x, w, b)
    dx, dw, db = MF.linear_backward(dout, cache)
    xr, wr, br = (t.clone().requires_grad_() for t in (x, w, b))
    ref = F.linear(xr, wr, br)
    ref.backward(dout)
    rows = [parity_row("linear", name, a, r) for name, a, r in
            (("out", out, ref), ("dx", dx, xr.grad), ("dweight", dw, wr.grad), ("dbias", db, br.grad))]
    x64, w64, b64, d64 = (t.double() for t in (x, w, b, dout))
    dx, dw, db = MF.linear_backward(d64, MF.linear_forward(x64, w64, b64)[1])
    f = lambda: (MF.linear_forward(x64, w64, b64)[0] * d64).sum()
    rows += [fd_row("linear", name, f, t, g, None, gen) for name, t, g in
             (("dx", x64, dx), ("dweight", w64, dw), ("dbias", b64, db))]
    return rows


def check_activation(name: str, dtype, device, gen) -> list[Row]:
    """One entry of functional.ACTIVATIONS against its torch module (functional.TORCH_ACTIVATIONS)."""
    forward, backward = MF.ACTIVATIONS[name]
    x = _rand(6, 9, dtype=dtype, device=device, gen=gen) * 2
    dout = _rand(6, 9, dtype=dtype, device=device, gen=gen)
    out, cache = forward(x)
    dx = backward(dout, cache)
    xr = x.clone().requires_grad_()
    ref = TORCH_ACTIVATIONS[name]()(xr)
    ref.backward(dout)
    rows = [parity_row(name, "out", out, ref), parity_row(name, "dx", dx, xr.grad)]
    x64, d64 = x.double(), dout.double()
    dx = backward(d64, forward(x64)[1])
    rows.append(fd_row(name, "dx", lambda: (forward(x64)[0] * d64).sum(), x64, dx, None, gen))
    return rows


def check_activations(dtype, device, gen) -> list[Row]:
    return [row for name in MF.ACTIVATIONS for row in check_activation(name, dtype, device, gen)]


def check_cross_entropy(dtype, device, gen) -> list[Row]:
    n, c = 8, 5
    rows = []
    weight = (torch.rand(c, dtype=dtype, generator=gen) + 0.5).to(device)
    y = torch.randint(0, c, (n,), generator=gen).to(device)
    y[1] = -100                                                      # one ignored target
    probs = torch.rand(n, c, dtype=dtype, generator=gen).softmax(1).to(device)
    cases = {     # SimpleNet's case (written out in functional.py), then options it hands to cross_entropy_general.py
        "ce": (y, {}),
        "ce class": (y, dict(weight=weight, label_smoothing=0.1)),
        "ce probs": (probs, dict(weight=weight, label_smoothing=0.1)),
        "ce none": (y, dict(reduction="none")),
    }
    for layer, (target, kw) in cases.items():
        z = _rand(n, c, dtype=dtype, device=device, gen=gen)
        loss, cache = MF.cross_entropy_forward(z, target, **kw)
        dloss = _rand(*loss.shape, dtype=dtype, device=device, gen=gen)
        dz = MF.cross_entropy_backward(dloss, cache)
        zr = z.clone().requires_grad_()
        ref = F.cross_entropy(zr, target, **kw)
        ref.backward(dloss)
        rows += [parity_row(layer, "loss", loss, ref), parity_row(layer, "dlogits", dz, zr.grad)]
        z64, d64 = z.double(), dloss.double()
        kw64 = {k: (v.double() if isinstance(v, torch.Tensor) else v) for k, v in kw.items()}
        t64 = target.double() if target.is_floating_point() else target
        dz = MF.cross_entropy_backward(d64, MF.cross_entropy_forward(z64, t64, **kw64)[1])
        f = lambda: (MF.cross_entropy_forward(z64, t64, **kw64)[0] * d64).sum()
        rows.append(fd_row(layer, "dlogits", f, z64, dz, None, gen))
    return rows


def check_simplenet(dtype, device, gen, config: MLPConfig = MLPConfig(), batch: int = 4,
                    fd_coords: int = 12) -> list[Row]:
    """The whole net: logits, loss and every parameter gradient against ReferenceNet + autograd."""
    state = SimpleNet(config).to(device=device, dtype=dtype).state_dict()
    ref = ReferenceNet(config).to(device=device, dtype=dtype)
    ref.load_state_dict(state)
    x = _rand(batch, config.in_features, dtype=dtype, device=device, gen=gen)
    y = torch.randint(0, config.num_classes, (batch,), generator=gen).to(device)

    ours = _simplenet_step(config, state, x, y, dtype)          # logits, loss, d<param> for each parameter
    ref_logits = ref(x)
    ref_loss = F.cross_entropy(ref_logits, y)
    ref_loss.backward()
    refs = {"logits": ref_logits, "loss": ref_loss, **{f"d{n}": p.grad for n, p in ref.named_parameters()}}
    rows = [parity_row("simplenet", name, t, refs[name]) for name, t in ours.items()]

    net64 = SimpleNet(config).to(device=device, dtype=torch.float64)
    net64.load_state_dict(state)
    x64 = x.double()
    _, cache = MF.cross_entropy_forward(net64(x64), y)
    net64.backward(MF.cross_entropy_backward(torch.ones((), dtype=torch.float64, device=device), cache))
    f = lambda: MF.cross_entropy_forward(net64(x64), y)[0]
    rows += [fd_row("simplenet", f"d{name}", f, p.data, p.grad, fd_coords, gen) for name, p in net64.named_parameters()]
    return rows


def run_checks(dtype: torch.dtype = torch.float64, device="cpu", seed: int = 0) -> list[Row]:
    """Every layer and the whole net; parity rows in `dtype`, finite-difference rows in float64."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for check in (check_linear, check_activations, check_cross_entropy, check_simplenet):
        rows += check(dtype, torch.device(device), gen)
    return rows


# ----------------------------------------------------------------------------------------------
# the precision of the products (check --precision bf16|tf32)

# The largest error a tensor of SimpleNet's step may have in a precision against float64, relative to
# its largest entry: 16 unit roundoffs of the format (bf16 u = 2^-9, TF32 2^-12). Each product's inputs
# carry up to u each, and three layers' forward and backward compound them: measured 2-10 u for bf16
# (2026-12-04); a format rounded more coarsely than it claims (a few bits fewer) lands above.
PRECISION_BOUND = {"bf16": 16 * 2.0**-9, "tf32": 16 * 2.0**-12}


@dataclass
class PrecisionRow:
    tensor: str
    against: str        # "float64" (the exact step) or "autocast" (the reference engine's step)
    float32_rel: float  # the float32 step's error against float64 (for "float64" rows)
    rel: float          # the precision's error
    bound: float
    passed: bool


def _simplenet_step(config: MLPConfig, state: dict, x, y, dtype) -> dict[str, torch.Tensor]:
    """Logits, loss and every parameter gradient of SimpleNet's hand-written step in `dtype`."""
    net = SimpleNet(config).to(device=x.device, dtype=dtype)
    net.load_state_dict(state)
    logits = net(x.to(dtype))
    loss, cache = MF.cross_entropy_forward(logits, y)
    net.backward(MF.cross_entropy_backward(torch.ones((), dtype=dtype, device=x.device), cache))
    return {"logits": logits, "loss": loss, **{f"d{name}": p.grad for name, p in net.named_parameters()}}


def _autocast_step(config: MLPConfig, state: dict, x, y) -> dict[str, torch.Tensor]:
    """The same by the seed's module and autograd, in `config.precision` as the reference engine runs it."""
    from .engines.reference import precision_contexts

    ref = ReferenceNet(config).to(x.device)
    ref.load_state_dict(state)
    matmuls, autocast = precision_contexts(config.precision, x.device)
    with matmuls:
        with autocast:
            logits = ref(x.float())
            loss = F.cross_entropy(logits, y)
        loss.backward()
    return {"logits": logits.float(), "loss": loss.float(), **{f"d{n}": p.grad for n, p in ref.named_parameters()}}


def precision_rows(precision: str, device="cpu", seed: int = 0, batch: int = 16) -> list[PrecisionRow]:
    """SimpleNet's step with its products in `precision` ('bf16', 'tf32'), against the float64 step (beside
    the float32 step's error), and against the reference engine's autocast step; the same weights and batch.
    A float64 row passes when the error is within PRECISION_BOUND and above float32's (the rounding is
    in effect: a step that rounded nothing would fail it)."""
    expect_one_of("precision", precision, tuple(PRECISION_BOUND))
    device = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    config = MLPConfig(precision=precision)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        state = SimpleNet(MLPConfig()).state_dict()
    x = _rand(batch, config.in_features, dtype=torch.float64, device=device, gen=gen)
    y = torch.randint(0, config.num_classes, (batch,), generator=gen).to(device)
    exact = _simplenet_step(MLPConfig(), state, x, y, torch.float64)
    f32 = _simplenet_step(MLPConfig(), state, x, y, torch.float32)
    low = _simplenet_step(config, state, x, y, torch.float32)
    auto = _autocast_step(config, state, x, y)
    bound = PRECISION_BOUND[precision]
    rows = []
    for name, ref in exact.items():
        e32, elow = _errors(f32[name], ref)[1], _errors(low[name], ref)[1]
        rows.append(PrecisionRow(name, "float64", e32, elow, bound, e32 < elow <= bound))
    for name, ref in auto.items():
        e = _errors(low[name], ref)[1]
        rows.append(PrecisionRow(name, "autocast", float("nan"), e, bound, e <= bound))
    return rows


def format_precision_table(rows: list[PrecisionRow]) -> str:
    head = ["tensor", "against", "float32 rel err", "rel err", "bound", "pass"]
    body = [[r.tensor, r.against, "-" if r.against != "float64" else f"{r.float32_rel:.2e}", f"{r.rel:.2e}",
             f"{r.bound:.2e}", "yes" if r.passed else "NO"] for r in rows]
    return text_table(head, body, left=2)


def format_table(rows: list[Row]) -> str:

    head = ["check", "layer", "tensor", "shape", "max abs err", "max rel err", "tolerance", "pass"]
    body = [[r.check, r.layer, r.tensor, "x".join(map(str, r.shape)) or "()", f"{r.max_abs:.2e}",
             f"{r.max_rel:.2e}", r.tol, "yes" if r.passed else "NO"] for r in rows]
    return text_table(head, body, left=len(head))


# ----------------------------------------------------------------------------------------------
# autograd.Functions whose backward is ours, for torch.autograd.gradcheck

class LinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        out, ctx.cache = MF.linear_forward(x, weight, bias)
        return out

    @staticmethod
    def backward(ctx, dout):
        return MF.linear_backward(dout, ctx.cache)


class ActivationFunction(torch.autograd.Function):
    """ActivationFunction.apply(x, name): functional.ACTIVATIONS[name] with our backward."""

    @staticmethod
    def forward(ctx, x, name):
        forward, ctx.backward = MF.ACTIVATIONS[name]
        out, ctx.cache = forward(x)
        return out

    @staticmethod
    def backward(ctx, dout):
        return ctx.backward(dout, ctx.cache), None


class CrossEntropyFunction(torch.autograd.Function):
    """Gradient w.r.t. logits only (targets and weights are data here)."""

    @staticmethod
    def forward(ctx, logits, target, weight, ignore_index, reduction, label_smoothing):
        loss, ctx.cache = CEG.cross_entropy_forward(logits, target, weight, ignore_index, reduction, label_smoothing)
        return loss

    @staticmethod
    def backward(ctx, dloss):
        return CEG.cross_entropy_backward(dloss, ctx.cache), None, None, None, None, None
