"""functional.py and cross_entropy_general.py against autograd (parity) and against finite differences,
plus bad input."""
import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from minitorch_clf import cross_entropy_general as CEG
from minitorch_clf import functional as MF
from minitorch_clf.checks import (ActivationFunction, CrossEntropyFunction, LinearFunction, finite_difference,
                                  parity_row)

DTYPES = [torch.float64, torch.float32]


def assert_parity(ours, ref):
    """float64: relative 1e-10 of the tensor's scale; float32: assert_close defaults."""
    assert ours.shape == ref.shape and ours.dtype == ref.dtype
    if ours.dtype == torch.float64:
        row = parity_row("t", "t", ours, ref)
        assert row.passed, f"max rel err {row.max_rel:.3e}"
    else:
        torch.testing.assert_close(ours, ref)


def fd_check(f, t, grad, gen=None, n=None):
    idx, est = finite_difference(f, t, n, gen or torch.Generator().manual_seed(0))
    ours = grad.reshape(-1)[idx]
    scale = est.abs().max().clamp_min(1e-12)
    assert ((ours - est).abs().max() / scale).item() < 1e-6


def noncontig(t):
    """The same values, stored transposed (t is 2-D)."""
    return t.T.contiguous().T


# ---------------------------------------------------------------------------------------------- linear

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,i,o", [(1, 1, 1), (1, 784, 128), (5, 7, 3), (64, 128, 64), (33, 17, 10)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_parity(dtype, n, i, o, bias):
    g = torch.Generator().manual_seed(n * 1000 + i * 10 + o)
    x, w = torch.randn(n, i, dtype=dtype, generator=g), torch.randn(o, i, dtype=dtype, generator=g)
    b = torch.randn(o, dtype=dtype, generator=g) if bias else None
    dout = torch.randn(n, o, dtype=dtype, generator=g)
    with torch.no_grad():
        out, cache = MF.linear_forward(x, w, b)
        dx, dw, db = MF.linear_backward(dout, cache)
    xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
    br = b.clone().requires_grad_() if bias else None
    ref = F.linear(xr, wr, br)
    ref.backward(dout)
    assert_parity(out, ref)
    assert_parity(dx, xr.grad)
    assert_parity(dw, wr.grad)
    if bias:
        assert_parity(db, br.grad)
    else:
        assert db is None


def test_linear_noncontiguous_and_unbatched():
    g = torch.Generator().manual_seed(1)
    x = noncontig(torch.randn(6, 5, dtype=torch.float64, generator=g))
    w = noncontig(torch.randn(4, 5, dtype=torch.float64, generator=g))
    b = torch.randn(8, dtype=torch.float64, generator=g)[::2]          # stride 2
    assert not x.is_contiguous() and not w.is_contiguous() and not b.is_contiguous()
    out, cache = MF.linear_forward(x, w, b)
    dout = torch.randn(6, 4, dtype=torch.float64, generator=g)
    dx, dw, db = MF.linear_backward(dout, cache)
    xr, wr, br = (t.clone().requires_grad_() for t in (x, w, b))
    F.linear(xr, wr, br).backward(dout)
    for a, r in ((out, F.linear(x, w, b)), (dx, xr.grad), (dw, wr.grad), (db, br.grad)):
        assert_parity(a, r)
    # unbatched (I,) -> (O,)
    x1 = torch.randn(5, dtype=torch.float64, generator=g)
    out1, cache1 = MF.linear_forward(x1, w, b)
    dx1, dw1, db1 = MF.linear_backward(dout[0], cache1)
    x1r, wr, br = (t.clone().requires_grad_() for t in (x1, w, b))
    F.linear(x1r, wr, br).backward(dout[0])
    for a, r in ((dx1, x1r.grad), (dw1, wr.grad), (db1, br.grad)):
        assert_parity(a, r)


def test_linear_skip_dx():
    x, w = torch.randn(3, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    _, cache = MF.linear_forward(x, w, None)
    dx, dw, db = MF.linear_backward(torch.randn(3, 2, dtype=torch.float64), cache, need_dx=False)
    assert dx is None and db is None and dw.shape == (2, 4)


@pytest.mark.parametrize("x_shape", [(4, 6), (2, 3, 6), (6,)])      # batch, (*, in) and unbatched
def test_linear_finite_difference(x_shape):
    g = torch.Generator().manual_seed(2)
    x, w, b = (torch.randn(*s, dtype=torch.float64, generator=g) for s in (x_shape, (3, 6), (3,)))
    r = torch.randn(*x_shape[:-1], 3, dtype=torch.float64, generator=g)
    dx, dw, db = MF.linear_backward(r, MF.linear_forward(x, w, b)[1])
    f = lambda: (MF.linear_forward(x, w, b)[0] * r).sum()
    for t, grad in ((x, dx), (w, dw), (b, db)):
        fd_check(f, t, grad)


def test_linear_gradcheck():
    g = torch.Generator().manual_seed(3)
    args = [torch.randn(*s, dtype=torch.float64, generator=g, requires_grad=True) for s in ((3, 5), (4, 5), (4,))]
    assert torch.autograd.gradcheck(LinearFunction.apply, args)


# ---------------------------------------------------------------------------------------------- relu

@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_parity_and_zero(dtype):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(7, 13, dtype=dtype, generator=g)
    x[0, :3] = 0.0                                        # the kink: gradient 0 there, as in torch
    dout = torch.randn(7, 13, dtype=dtype, generator=g)
    out, cache = MF.relu_forward(x)
    dx = MF.relu_backward(dout, cache)
    xr = x.clone().requires_grad_()
    ref = torch.relu(xr)
    ref.backward(dout)
    assert_parity(out, ref)
    assert_parity(dx, xr.grad)


def test_relu_finite_difference_and_gradcheck():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(5, 6, dtype=torch.float64, generator=g)
    x = x + 0.1 * x.sign()                                # keep clear of the kink for differences
    r = torch.randn(5, 6, dtype=torch.float64, generator=g)
    dx = MF.relu_backward(r, MF.relu_forward(x)[1])
    fd_check(lambda: (MF.relu_forward(x)[0] * r).sum(), x, dx)
    assert torch.autograd.gradcheck(lambda t: ActivationFunction.apply(t, "relu"), [x.clone().requires_grad_()])


# ---------------------------------------------------------------------------------------------- cross-entropy

# ---------------------------------------------------------------------------------------------- cross-entropy

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ignored", [0, 1, 7])             # rows set to -100: none, one, all
def test_simplenets_cross_entropy_as_torch(dtype, ignored):
    """functional.py's cross-entropy (class indices, the mean) against F.cross_entropy and autograd."""
    g = torch.Generator().manual_seed(31)
    z = torch.randn(7, 10, dtype=dtype, generator=g) * 3
    y = torch.randint(0, 10, (7,), generator=g)
    y[:ignored] = -100
    loss, cache = MF.cross_entropy_forward(z, y)
    dloss = torch.randn((), dtype=dtype, generator=g)
    dz = MF.cross_entropy_backward(dloss, cache)
    zr = z.clone().requires_grad_()
    ref = F.cross_entropy(zr, y)
    ref.backward(dloss)
    if ignored == 7:                                        # 0/0, and a zero gradient, as torch
        assert torch.isnan(loss) and torch.isnan(ref) and torch.equal(dz, torch.zeros_like(z)) and torch.equal(dz, zr.grad)
    else:
        assert_parity(loss, ref.detach())
        assert_parity(dz, zr.grad)


def test_simplenets_cross_entropy_finite_difference():
    g = torch.Generator().manual_seed(32)
    z = torch.randn(6, 4, dtype=torch.float64, generator=g)
    y = torch.tensor([0, 3, 1, -100, 3, 2])
    dloss = torch.tensor(0.7, dtype=torch.float64)
    dz = MF.cross_entropy_backward(dloss, MF.cross_entropy_forward(z, y)[1])
    fd_check(lambda: MF.cross_entropy_forward(z, y)[0] * dloss, z, dz)
    assert torch.equal(dz[3], torch.zeros(4, dtype=torch.float64))


def test_simplenets_cross_entropy_custom_ignore_index():
    g = torch.Generator().manual_seed(34)
    z = torch.randn(4, 3, dtype=torch.float64, generator=g)
    y = torch.tensor([0, 2, 2, 1])
    loss, cache = MF.cross_entropy_forward(z, y, ignore_index=2)
    zr = z.clone().requires_grad_()
    ref = F.cross_entropy(zr, y, ignore_index=2)
    ref.backward()
    assert_parity(loss, ref.detach())
    assert_parity(MF.cross_entropy_backward(torch.ones((), dtype=torch.float64), cache), zr.grad)
    with pytest.raises(ValueError, match="ignore_index=2, got -100"):     # -100 is only ignored by default
        MF.cross_entropy_forward(z, torch.tensor([0, -100, 2, 1]), ignore_index=2)


@pytest.mark.parametrize("case", ["positional", "sum", "none", "probabilities", "spatial", "one sample", "ignored"])
def test_functionals_cross_entropy_takes_the_contracts_signature(case):
    """DESIGN.md's contract: MF.cross_entropy_forward(logits, target, weight=None, ignore_index=-100,
    reduction="mean", label_smoothing=0.0) and MF.cross_entropy_backward(dloss, cache), (N, C, d1..dk) as torch,
    each case against F.cross_entropy and autograd. (From the split of issue 26 until 2026-12-07 functional.py took
    (logits, target, ignore_index) alone: the options raised TypeError, and a weight given by position became
    the ignore_index.)"""
    g = torch.Generator().manual_seed(35)
    dt = torch.float64
    w = torch.rand(5, dtype=dt, generator=g) + 0.5
    z = torch.randn(6, 5, dtype=dt, generator=g)
    y = torch.randint(0, 5, (6,), generator=g)
    args, kw, ref_kw = (z, y), {}, None
    if case == "positional":                                  # (F.cross_entropy's own order has size_average third)
        args, ref_kw = (z, y, w, -100, "mean", 0.1), dict(weight=w, ignore_index=-100, reduction="mean",
                                                          label_smoothing=0.1)
    elif case in ("sum", "none"):
        kw = dict(weight=w, reduction=case)
    elif case == "probabilities":
        args, kw = (z, torch.rand(6, 5, dtype=dt, generator=g).softmax(1)), dict(label_smoothing=0.2)
    elif case == "spatial":                                   # (N, C, d1, d2) against (N, d1, d2)
        args = (torch.randn(2, 5, 3, 4, dtype=dt, generator=g), torch.randint(0, 5, (2, 3, 4), generator=g))
    elif case == "one sample":                                # (C,) against ()
        args = (torch.randn(5, dtype=dt, generator=g), torch.tensor(3))
    else:
        kw = dict(weight=w, ignore_index=2)
    loss, cache = MF.cross_entropy_forward(*args, **kw)
    dloss = torch.randn(loss.shape, dtype=dt, generator=g)
    dz = MF.cross_entropy_backward(dloss, cache)
    zr = args[0].clone().requires_grad_()
    ref = F.cross_entropy(zr, args[1], **kw) if ref_kw is None else F.cross_entropy(zr, args[1], **ref_kw)
    ref.backward(dloss)
    assert_parity(loss, ref.detach())
    assert_parity(dz, zr.grad)
    fd_check(lambda: (MF.cross_entropy_forward(*args, **kw)[0] * dloss).sum(), args[0], dz)


@pytest.mark.parametrize("dtype", DTYPES)
def test_simplenets_cross_entropy_is_the_general_one_to_the_bit(dtype):
    """The core is the general form with its options at their defaults: same operations, same bits."""
    g = torch.Generator().manual_seed(33)
    z = torch.randn(64, 10, dtype=dtype, generator=g) * 4
    y = torch.randint(0, 10, (64,), generator=g)
    y[5] = -100
    loss, cache = MF.cross_entropy_forward(z, y)
    loss_g, cache_g = CEG.cross_entropy_forward(z, y)
    one = torch.ones((), dtype=dtype)
    assert torch.equal(loss, loss_g)
    assert torch.equal(MF.cross_entropy_backward(one, cache), CEG.cross_entropy_backward(one, cache_g))


def ce_case(dtype, n, c, target_kind, use_weight, with_ignore, seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, c, dtype=dtype, generator=g) * 3
    weight = torch.rand(c, dtype=dtype, generator=g) + 0.1 if use_weight else None
    if target_kind == "class":
        t = torch.randint(0, c, (n,), generator=g)
        if with_ignore:
            t[0] = -100 if n > 1 else t[0]
    else:
        t = torch.rand(n, c, dtype=dtype, generator=g).softmax(1)
    return z, t, weight


def ce_parity(z, t, weight, reduction, smoothing, ignore_index=-100):
    loss, cache = CEG.cross_entropy_forward(z, t, weight, ignore_index, reduction, smoothing)
    g = torch.Generator().manual_seed(9)
    dloss = torch.randn(loss.shape, dtype=z.dtype, generator=g)
    dz = CEG.cross_entropy_backward(dloss, cache)
    zr = z.clone().requires_grad_()
    ref = F.cross_entropy(zr, t, weight, ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing)
    ref.backward(dloss)
    assert_parity(loss, ref.detach())
    assert_parity(dz, zr.grad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target_kind,use_weight,with_ignore,reduction,smoothing", [
    combo for combo in itertools.product(["class", "probs"], [False, True], [False, True],
                                         ["mean", "sum", "none"], [0.0, 0.25])
    if not (combo[0] == "probs" and combo[2])])           # ignore_index does not apply to probabilities
def test_cross_entropy_every_option(dtype, target_kind, use_weight, with_ignore, reduction, smoothing):
    z, t, w = ce_case(dtype, 9, 6, target_kind, use_weight, with_ignore, seed=11)
    ce_parity(z, t, w, reduction, smoothing)


@pytest.mark.parametrize("target_kind", ["class", "probs"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_unbatched(target_kind, reduction):
    g = torch.Generator().manual_seed(12)
    z = torch.randn(5, dtype=torch.float64, generator=g)
    t = torch.tensor(3) if target_kind == "class" else torch.rand(5, dtype=torch.float64, generator=g).softmax(0)
    ce_parity(z, t, torch.rand(5, dtype=torch.float64, generator=g) + 0.5, reduction, 0.1)


def test_cross_entropy_custom_ignore_index_and_all_ignored():
    g = torch.Generator().manual_seed(13)
    z = torch.randn(4, 3, dtype=torch.float64, generator=g)
    ce_parity(z, torch.tensor([0, 2, 2, 1]), None, "mean", 0.0, ignore_index=2)
    loss, cache = CEG.cross_entropy_forward(z, torch.full((4,), -100), reduction="mean")
    assert torch.isnan(loss) and torch.isnan(F.cross_entropy(z, torch.full((4,), -100)))
    # torch's gradient of an all-ignored batch is zeros: one such batch must not poison the weights
    assert torch.equal(CEG.cross_entropy_backward(torch.ones((), dtype=torch.float64), cache), torch.zeros(4, 3).double())


@pytest.mark.parametrize("target_kind,reduction", [("class", "mean"), ("class", "none"), ("probs", "sum")])
def test_cross_entropy_spatial_finite_difference(target_kind, reduction):
    """(N, C, d1, d2) logits: each position a sample; parity with torch and finite differences."""
    g = torch.Generator().manual_seed(21)
    z = torch.randn(2, 4, 3, 2, dtype=torch.float64, generator=g)
    if target_kind == "class":
        t = torch.randint(0, 4, (2, 3, 2), generator=g)
        t[0, 1, 1] = -100
    else:
        t = torch.softmax(torch.randn(2, 4, 3, 2, dtype=torch.float64, generator=g), dim=1)
    w = torch.rand(4, dtype=torch.float64, generator=g) + 0.5
    r = torch.randn(() if reduction != "none" else (2, 3, 2), dtype=torch.float64, generator=g)
    loss, cache = CEG.cross_entropy_forward(z, t, w, -100, reduction, 0.1)
    dz = CEG.cross_entropy_backward(r, cache)
    zr = z.clone().requires_grad_()
    ref = F.cross_entropy(zr, t, w, ignore_index=-100, reduction=reduction, label_smoothing=0.1)
    ref.backward(r)
    torch.testing.assert_close(loss, ref.detach(), rtol=1e-10, atol=0)
    torch.testing.assert_close(dz, zr.grad, rtol=1e-10, atol=1e-14)
    fd_check(lambda: (CEG.cross_entropy_forward(z, t, w, -100, reduction, 0.1)[0] * r).sum(), z, dz)


@pytest.mark.parametrize("target_kind,use_weight,reduction,smoothing",
                         [("class", True, "mean", 0.2), ("class", False, "none", 0.0),
                          ("probs", True, "sum", 0.3), ("probs", False, "mean", 0.0)])
def test_cross_entropy_finite_difference(target_kind, use_weight, reduction, smoothing):
    z, t, w = ce_case(torch.float64, 6, 4, target_kind, use_weight, True, seed=14)
    r = torch.randn(() if reduction != "none" else (6,), dtype=torch.float64)
    dz = CEG.cross_entropy_backward(r, CEG.cross_entropy_forward(z, t, w, -100, reduction, smoothing)[1])
    fd_check(lambda: (CEG.cross_entropy_forward(z, t, w, -100, reduction, smoothing)[0] * r).sum(), z, dz)
    zr = z.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a: CrossEntropyFunction.apply(a, t, w, -100, reduction, smoothing), [zr])


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_cross_entropy_stable_for_huge_logits(scale):
    g = torch.Generator().manual_seed(15)
    z = torch.randn(8, 10, generator=g) * scale                           # float32, |z| ~ 1e4
    t = torch.randint(0, 10, (8,), generator=g)
    loss, cache = CEG.cross_entropy_forward(z, t, label_smoothing=0.1)
    dz = CEG.cross_entropy_backward(torch.tensor(1.0), cache)
    assert torch.isfinite(loss) and torch.isfinite(dz).all()
    ce_parity(z, t, None, "mean", 0.1)


# ---------------------------------------------------------------------------------------------- property tests

shapes = st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 9))


@settings(max_examples=40, deadline=None)
@given(shape=shapes, bias=st.booleans(), transposed=st.booleans(), seed=st.integers(0, 2**31))
def test_linear_property(shape, bias, transposed, seed):
    n, i, o = shape
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(i, n, dtype=torch.float64, generator=g).T if transposed else \
        torch.randn(n, i, dtype=torch.float64, generator=g)
    w = torch.randn(o, i, dtype=torch.float64, generator=g)
    b = torch.randn(o, dtype=torch.float64, generator=g) if bias else None
    dout = torch.randn(n, o, dtype=torch.float64, generator=g)
    dx, dw, db = MF.linear_backward(dout, MF.linear_forward(x, w, b)[1])
    xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
    br = b.clone().requires_grad_() if bias else None
    F.linear(xr, wr, br).backward(dout)
    assert_parity(dx, xr.grad)
    assert_parity(dw, wr.grad)
    if bias:
        assert_parity(db, br.grad)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 8), c=st.integers(2, 7), target_kind=st.sampled_from(["class", "probs"]),
       use_weight=st.booleans(), with_ignore=st.booleans(), reduction=st.sampled_from(["mean", "sum", "none"]),
       smoothing=st.sampled_from([0.0, 0.05, 0.5, 1.0]), seed=st.integers(0, 2**31))
def test_cross_entropy_property(n, c, target_kind, use_weight, with_ignore, reduction, smoothing, seed):
    z, t, w = ce_case(torch.float64, n, c, target_kind, use_weight, with_ignore and target_kind == "class", seed)
    ce_parity(z, t, w, reduction, smoothing)


# ---------------------------------------------------------------------------------------------- bad input

x, w = torch.randn(4, 5), torch.randn(3, 5)


@pytest.mark.parametrize("call,exc,words", [
    (lambda: MF.linear_forward(torch.randn(4, 6), w), ValueError, ["x", "in_features=5", "(4, 6)"]),
    (lambda: MF.linear_forward(torch.randn(2, 4, 6), w), ValueError, ["x", "in_features=5", "(2, 4, 6)"]),
    (lambda: MF.linear_forward(torch.tensor(1.0), w), ValueError, ["x", "()"]),
    (lambda: MF.linear_backward(torch.randn(3, 1, 4), MF.linear_forward(torch.randn(3, 5), torch.randn(4, 5))[1]),
     ValueError, ["dout", "(3, 4)", "(3, 1, 4)"]),
    (lambda: MF.linear_backward(torch.randn(3), MF.linear_forward(torch.randn(3, 5), torch.randn(4, 5))[1]),
     ValueError, ["dout", "(3, 4)", "(3,)"]),
    (lambda: MF.linear_backward(torch.randn(3, 4).double(), MF.linear_forward(torch.randn(3, 5), torch.randn(4, 5))[1]),
     TypeError, ["dout", "float32", "float64"]),
    (lambda: MF.relu_backward(torch.randn(1, 6), MF.relu_forward(torch.randn(2, 6))[1]), ValueError,
     ["dout", "(2, 6)", "(1, 6)"]),
    (lambda: MF.relu_backward(torch.randn(2, 6).long(), MF.relu_forward(torch.randn(2, 6))[1]), TypeError,
     ["dout", "int64"]),
    (lambda: CEG.cross_entropy_backward(torch.ones(4), CEG.cross_entropy_forward(torch.randn(4, 3), torch.tensor([0, 1, 2, 1]))[1]),
     ValueError, ["dloss", "()", "(4,)"]),
    (lambda: CEG.cross_entropy_backward(torch.ones(()), CEG.cross_entropy_forward(
        torch.randn(4, 3), torch.tensor([0, 1, 2, 1]), reduction="none")[1]), ValueError, ["dloss", "(4,)", "()"]),
    (lambda: CEG.cross_entropy_forward(torch.randn(4, 3), torch.rand(4, 3), ignore_index=1), ValueError,
     ["ignore_index", "probability"]),
    (lambda: MF.cross_entropy_forward(torch.randn(2, 4, 3), torch.tensor([0, 1])), ValueError,
     ["target", "(2, 3)", "(2,)"]),
    (lambda: MF.cross_entropy_forward(torch.randn(4, 3), torch.rand(4, 3).double()), TypeError, ["target", "float64"]),
    (lambda: MF.cross_entropy_forward(torch.randn(4, 3), torch.tensor([0, 1, 2, 1]), reduction="avg"), ValueError,
     ["reduction", "avg"]),
    (lambda: MF.cross_entropy_forward(torch.randn(4, 3), torch.tensor([0, 1, 2, 1]), label_smoothing=1.5), ValueError,
     ["label_smoothing", "1.5"]),
    (lambda: MF.cross_entropy_forward(torch.randn(4, 3), torch.tensor([0, 1, 3, 2])), ValueError,
     ["target", "[0, 3)", "3"]),
    (lambda: MF.cross_entropy_forward(torch.randn(4, 3), torch.tensor([0, 1, 2])), ValueError,
     ["target", "(4,)", "(3,)"]),
    (lambda: MF.cross_entropy_backward(torch.ones(4), MF.cross_entropy_forward(torch.randn(4, 3), torch.tensor([0, 1, 2, 1]))[1]),
     ValueError, ["dloss", "()", "(4,)"]),
    (lambda: MF.linear_forward(x, torch.randn(5)), ValueError, ["weight", "(5,)"]),
    (lambda: MF.linear_forward(x, w, torch.randn(4)), ValueError, ["bias", "(3,)", "(4,)"]),
    (lambda: MF.linear_forward(x.double(), w), TypeError, ["x", "float32", "float64"]),
    (lambda: MF.linear_forward(x, w, torch.randn(3, dtype=torch.float64)), TypeError, ["bias", "float64"]),
    (lambda: MF.linear_forward(torch.ones(4, 5, dtype=torch.int64), w), TypeError, ["x", "int64"]),
    (lambda: MF.linear_forward(x.tolist(), w), TypeError, ["x", "list"]),
    (lambda: MF.relu_forward(torch.ones(3, dtype=torch.int32)), TypeError, ["x", "int32"]),
    (lambda: CEG.cross_entropy_forward(torch.randn(4, 3), torch.tensor([0, 1, 3, 2])), ValueError,
     ["target", "[0, 3)", "3"]),
    (lambda: CEG.cross_entropy_forward(torch.randn(4, 3), torch.tensor([0, 1, -1, 2])), ValueError,
     ["target", "-1"]),
    (lambda: CEG.cross_entropy_forward(torch.randn(4, 3), torch.rand(4, 4)), ValueError,
     ["target", "(4, 3)", "(4, 4)"]),
    (lambda: CEG.cross_entropy_forward(torch.randn(4, 3), torch.tensor([0, 1, 2])), ValueError,
     ["target", "(4,)", "(3,)"]),
    (lambda: CEG.cross_entropy_forward(torch.randn(4, 3), torch.tensor([0, 1, 2, 1]), weight=torch.rand(4)),
     ValueError, ["weight", "(3,)", "(4,)"]),
    (lambda: CEG.cross_entropy_forward(torch.randn(4, 3), torch.tensor([0, 1, 2, 1]), reduction="avg"),
     ValueError, ["reduction", "'avg'"]),
    (lambda: CEG.cross_entropy_forward(torch.randn(4, 3), torch.tensor([0, 1, 2, 1]), label_smoothing=1.5),
     ValueError, ["label_smoothing", "1.5"]),
    (lambda: CEG.cross_entropy_forward(torch.randn(2, 4, 3), torch.tensor([0, 1])), ValueError,
     ["target", "(2, 3)", "(2,)"]),
    (lambda: CEG.cross_entropy_forward(torch.tensor(1.0), torch.tensor(0)), ValueError, ["logits", "()"]),
    (lambda: CEG.cross_entropy_forward(torch.randn(4, 3), torch.tensor([True, False, True, True])), TypeError,
     ["target", "bool"]),
    (lambda: CEG.cross_entropy_forward(torch.tensor([[1, 2]]), torch.tensor([0])), TypeError, ["logits", "int64"]),
])
def test_bad_input_names_argument(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))
