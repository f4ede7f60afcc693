"""The custom ops (kernels/cpu): opcheck, gradcheck, parity with functional.py, torch.compile, errors."""
import faulthandler
import os
import re
import signal

import pytest
import torch
import torch.nn.functional as F

from minitorch_clf import functional as MF
from minitorch_clf import ops
from child import outcome
from fused_step import two_layer_step

OP = torch.ops.minitorch_clf


@pytest.fixture(params=["own", "aten"])
def gemm(request):
    """Runs a test once with each float32 GEMM inside the fused ops (kernels/cpu/gemm/gemm.h and ATen's)."""
    with ops.gemm(request.param):
        yield request.param


def rand(*shape, dtype=torch.float64, seed=0):
    return torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def noncontig(t):
    return t.T.contiguous().T


SHAPES = [(1, 1, 1), (1, 784, 128), (5, 7, 3), (64, 128, 64), (33, 17, 10), (70, 3, 65)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n,i,o", SHAPES)
@pytest.mark.parametrize("act", MF.ACTIVATIONS)
def test_linear_parity_with_functional(dtype, n, i, o, act, gemm):
    """Every activation against functional.py's (ACTIVATIONS, the same table `train --activation` reads).
    float32 runs against float64 on the same inputs: two float32 sums of K terms in different orders
    differ by up to ~sqrt(K) roundings, so float32 vs float32 would test the order."""
    x, w, b = rand(n, i, dtype=dtype, seed=1), rand(o, i, dtype=dtype, seed=2), rand(o, dtype=dtype, seed=3)
    dout = rand(n, o, dtype=dtype, seed=4)
    out, saved = ops.linear_forward(x, w, b, act)
    assert saved.shape == out.shape and (saved is out) == (act not in MF.BACKWARD_READS_INPUT)
    x64, w64, b64, dout64 = (t.double() for t in (x, w, b, dout))
    z, cache = MF.linear_forward(x64, w64, b64)
    forward, backward = MF.ACTIVATIONS[act]
    ref, act_cache = forward(z)
    dx_ref, dw_ref, db_ref = MF.linear_backward(backward(dout64, act_cache), cache)
    dx, dw, db = ops.linear_backward(dout, x, w, saved, act, True)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5 * max(n, i, o) ** 0.5)
    for a, r in ((out, ref), (dx, dx_ref), (dw, dw_ref), (db, db_ref)):
        torch.testing.assert_close(a, r.to(dtype), **tol)
    if act in MF.BACKWARD_READS_INPUT:
        torch.testing.assert_close(saved, z.to(dtype), **tol)
    dx_none, dw2, _ = ops.linear_backward(dout, x, w, saved, act, False)
    assert dx_none.numel() == 0 and torch.equal(dw2, dw)


def test_unknown_activation_is_named():
    with pytest.raises(RuntimeError, match="activation: expected one of identity, relu.*got 'swish'"):
        ops.linear_forward(rand(2, 3), rand(4, 3), rand(4), "swish")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_linear_noncontiguous_inputs(gemm, dtype):
    x, w, b = (noncontig(rand(6, 5, dtype=dtype, seed=1)), noncontig(rand(4, 5, dtype=dtype, seed=2)),
               rand(8, dtype=dtype, seed=3)[::2])
    assert not (x.is_contiguous() or w.is_contiguous() or b.is_contiguous())
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)
    out, saved = ops.linear_forward(x, w, b, "relu")
    torch.testing.assert_close(out, torch.relu(F.linear(x, w, b)), **tol)
    dout = noncontig(rand(6, 4, dtype=dtype, seed=5))
    dx, dw, db = ops.linear_backward(dout, x, w, saved, "relu", True)
    xr, wr, br = (t.clone().requires_grad_() for t in (x, w, b))
    torch.relu(F.linear(xr, wr, br)).backward(dout)
    for a, r in ((dx, xr.grad), (dw, wr.grad), (db, br.grad)):
        torch.testing.assert_close(a, r, **tol)


def test_backward_is_deterministic_across_threads(gemm):
    """The own GEMM promises the same bits whatever the thread count (each output's sum runs in one fixed
    order; threads split the outputs, never a sum). ATen's (MKL, OpenBLAS) promises no such thing: MKL's
    AVX-512 paths on Intel split K differently with 1 and 2 threads (a fixed tolerance failed there:
    2.2e-5 on a sum of 1,000 terms), so there each result is held to the float32 error bound of its sums."""
    from test_gemm import assert_within_bound

    dout, x, w = rand(1000, 64, dtype=torch.float32, seed=1), rand(1000, 32, dtype=torch.float32, seed=2), \
        rand(64, 32, dtype=torch.float32, seed=3)
    out = dout.clone()
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(ops.linear_backward(dout, x, w, out, "relu", True))
    finally:
        torch.set_num_threads(before)
    dz = dout * (out > 0)                                          # relu's backward, exact
    products = [(dz, w), (dz.T, x), (torch.ones(1, dz.shape[0]), dz)]  # dx, dW, db as sums of products
    for one, two in zip(*results):
        if gemm == "own":
            assert torch.equal(one, two)
    if gemm != "own":
        for result in results:
            for got, (a, b) in zip(result, products):
                assert_within_bound(got.reshape(a.shape[0], b.shape[1]), a, b)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n,c", [(1, 2), (64, 10), (33, 7), (5, 1)])
def test_cross_entropy_parity(dtype, n, c):
    z = rand(n, c, dtype=dtype, seed=n) * 3
    y = torch.randint(0, c, (n,), generator=torch.Generator().manual_seed(c))
    loss, dz = ops.cross_entropy_forward_backward(z, y)
    ref, cache = MF.cross_entropy_forward(z, y)
    dref = MF.cross_entropy_backward(torch.ones((), dtype=dtype), cache)
    tol = dict(rtol=1e-10, atol=1e-14) if dtype == torch.float64 else {}
    torch.testing.assert_close(loss, ref, **tol)
    torch.testing.assert_close(dz, dref, **tol)


def test_cross_entropy_stable_and_noncontiguous():
    z = noncontig(rand(10, 8, dtype=torch.float32, seed=3) * 1e4)           # (10, 8), transposed storage
    y = torch.arange(10) % 8
    loss, dz = ops.cross_entropy_forward_backward(z, y)
    assert torch.isfinite(loss) and torch.isfinite(dz).all()
    torch.testing.assert_close(loss, F.cross_entropy(z, y))


@pytest.mark.parametrize("act", MF.ACTIVATIONS)
def test_gradcheck_through_registered_autograd(act):
    x, w, b = (rand(*s, seed=k).requires_grad_() for k, s in enumerate(((4, 6), (3, 6), (3,))))
    assert torch.autograd.gradcheck(lambda x, w, b: ops.linear_forward(x, w, b, act)[0], (x, w, b))


def test_gradcheck_cross_entropy_through_registered_autograd():
    z = rand(5, 4, seed=7).requires_grad_()
    y = torch.tensor([0, 3, 1, 1, 2])
    assert torch.autograd.gradcheck(lambda z: ops.cross_entropy_forward_backward(z, y)[0], (z,))


def _optimizer_args():
    p, g, b = ([rand(5, 3, dtype=torch.float32, seed=s), rand(4, dtype=torch.float32, seed=s + 1)] for s in (1, 3, 5))
    m, v, vm = ([torch.rand(5, 3), torch.rand(4)] for _ in range(3))
    return {
        "sgd_update_": (p, g, b, 0.1, 0.9, 0.0, 0.01, True, False, False),
        "adam_update_": (p, g, m, v, vm, [0.01, 0.02], [0.3, 0.4], 1e-3, 0.9, 0.999, 1e-8, 0.01, True, True, False),
    }


@pytest.mark.parametrize("name,act", [("linear_forward", "relu"), ("linear_forward", "gelu"), ("linear_backward", "relu"),
                                      ("linear_backward", "gelu_tanh"), ("cross_entropy_forward_backward", None),
                                      ("sgd_update_", None), ("adam_update_", None), ("mlp_sgd_step_", "relu"),
                                      ("mlp_sgd_step_", "gelu"), ("mlp_adam_step_", "relu"),
                                      ("mlp_adam_step_", "tanh"), ("mlp_sgd_epoch_", "relu"),
                                      ("mlp_adam_epoch_", "relu")])
def test_opcheck(name, act):
    x, w, b = rand(6, 5, seed=1).requires_grad_(), rand(4, 5, seed=2).requires_grad_(), rand(4, seed=3).requires_grad_()
    _, saved = ops.linear_forward(x.detach(), w.detach(), b.detach(), act or "relu")
    args = {
        "linear_forward": (x, w, b, act),
        "linear_backward": (rand(6, 4, seed=4), x.detach(), w.detach(), saved, act, True),
        "cross_entropy_forward_backward": (rand(6, 4, seed=5).requires_grad_(), torch.tensor([0, 1, 2, 3, 0, 1])),
        "mlp_sgd_step_": (rand(6, 5, seed=6), torch.tensor([0, 1, 2, 0, 1, 2]), [rand(4, 5, seed=7), rand(3, 4, seed=8)],
                          [rand(4, seed=9), rand(3, seed=10)], [rand(4, 5, seed=11), rand(4, seed=12),
                                                                 rand(3, 4, seed=13), rand(3, seed=14)],
                          act, 0.1, 0.9, 0.0, 0.01, True, False),
        "mlp_adam_step_": (rand(6, 5, seed=6), torch.tensor([0, 1, 2, 0, 1, 2]), [rand(4, 5, seed=7), rand(3, 4, seed=8)],
                           [rand(4, seed=9), rand(3, seed=10)], [torch.tensor(float(t)) for t in (0, 1, 2, 3)],
                           *[[rand(*shape, seed=11 + 4 * k + i).abs() for i, shape in enumerate(((4, 5), (4,), (3, 4), (3,)))]
                             for k in range(3)],
                           act, 1e-3, 0.9, 0.999, 1e-8, 0.01, True, True, False),
        "mlp_sgd_epoch_": (rand(9, 5, seed=6), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2]), torch.tensor([3, 1, 4, 0, 8, 5, 2]),
                           3, False, [rand(4, 5, seed=7), rand(3, 4, seed=8)], [rand(4, seed=9), rand(3, seed=10)],
                           [rand(4, 5, seed=11), rand(4, seed=12), rand(3, 4, seed=13), rand(3, seed=14)],
                           act, 0.1, 0.9, 0.0, 0.01, True, False),
        "mlp_adam_epoch_": (rand(9, 5, seed=6), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2]), torch.tensor([3, 1, 4, 0, 8, 5, 2]),
                            3, False, [rand(4, 5, seed=7), rand(3, 4, seed=8)], [rand(4, seed=9), rand(3, seed=10)],
                            [torch.tensor(float(t)) for t in (0, 1, 2, 3)],
                            *[[rand(*shape, seed=11 + 4 * k + i).abs() for i, shape in enumerate(((4, 5), (4,), (3, 4), (3,)))]
                              for k in range(3)],
                            act, 1e-3, 0.9, 0.999, 1e-8, 0.01, False, True, False),
        **_optimizer_args(),
    }[name]
    torch.library.opcheck(getattr(OP, name).default, args)


@pytest.mark.parametrize("bad", [9, -1])
def test_the_epoch_op_refuses_an_order_outside_the_rows_before_any_step(bad):
    x, y = rand(9, 5, seed=6), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2])
    weights, biases = [rand(4, 5, seed=7), rand(3, 4, seed=8)], [rand(4, seed=9), rand(3, seed=10)]
    before = [t.clone() for t in weights + biases]
    with pytest.raises(RuntimeError, match=re.escape(f"order: expected row indices in [0, 9), got {bad}")):
        OP.mlp_sgd_epoch_(x, y, torch.tensor([3, 1, 4, 0, 8, 5, bad]), 3, False, weights, biases, [], "relu",
                          0.1, 0.0, 0.0, 0.0, False, False)
    assert all(torch.equal(a, b) for a, b in zip(before, weights + biases))


@pytest.mark.parametrize("kw", [dict(momentum=0.9), dict(momentum=0.9, nesterov=True, weight_decay=0.01),
                                dict(momentum=0.0, maximize=True), dict(momentum=0.5, dampening=0.3)]
                         + [dict(momentum=0.9, activation=a) for a in MF.ACTIVATIONS if a != "relu"])
@pytest.mark.parametrize("batch", [33, 130, 1])
def test_whole_step_op_equals_the_layered_fused_step(kw, batch, gemm):
    """mlp_sgd_step_ composes the same kernels in C++: the same bits as the engine's layer-by-layer step
    (there the activation's derivative runs in the bias-gradient pass, here in the dx product's epilogue
    of the layer above: the same one multiplication of the same two numbers). At 130 rows the layers after the
    first run cut by rows where they can (test_the_layers_after_the_first_cut_by_rows_give_the_same_bits). At a
    batch of one the whole step makes no dW: the update computes each dW row from dz and x (sgd_update_outer_cpu),
    with the value the dW product stores (the sign of zero: test_a_batch_of_one_updates_with_the_products_zeros)."""
    from minitorch_clf.engines import build_engine

    hyper = {k: v for k, v in kw.items() if k not in ("momentum", "activation")}
    layered, whole = (build_engine("fused", lr=0.05, momentum=kw["momentum"], seed=4,
                                   activation=kw.get("activation", "relu")) for _ in range(2))
    same_steps(layered, whole, hyper, batch)


def _rows_step(batch: int, activation: str, threads: int, sizes=(60, 48, 24, 10), products: str = "float32"):
    """One mlp_sgd_step_ of an MLP of `sizes` on `threads` threads, profiled: (loss, parameters after, the scopes'
    counts). Every fourth row's target is ignore_index (-100), so the loss counts some rows only. products:
    "float32", or the bf16 kernel the products run on (ops.bf16_kernel)."""
    from torch.profiler import ProfilerActivity, profile

    W = [rand(o, i, dtype=torch.float32, seed=k) * i ** -0.5 for k, (i, o) in enumerate(zip(sizes, sizes[1:]))]
    B = [rand(o, dtype=torch.float32, seed=10 + k) * 0.1 for k, o in enumerate(sizes[1:])]
    bufs = [torch.zeros_like(t) for p in zip(W, B) for t in p]
    x = rand(batch, sizes[0], dtype=torch.float32, seed=20)
    y = torch.randint(0, sizes[-1], (batch,), generator=torch.Generator().manual_seed(21))
    y[::4] = -100
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    bf16 = products != "float32"
    try:
        with ops.gemm("own"), ops.precision("bf16" if bf16 else "float32"), \
                ops.bf16_kernel(products if bf16 else "auto"), profile(activities=[ProfilerActivity.CPU]) as prof:
            loss = OP.mlp_sgd_step_(x, y, W, B, bufs, activation, 0.1, 0.9, 0.0, 0.01, False, False)
    finally:
        torch.set_num_threads(before)
    return loss, W + B + bufs, {e.key: e.count for e in prof.key_averages()}


ROWS_SCOPE = "step: layers after the first, rows cut between the threads"


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "identity"])
@pytest.mark.parametrize("batch", [128, 200, 257])
def test_the_layers_after_the_first_cut_by_rows_give_the_same_bits(batch, activation):
    """From 128 rows on, with a second thread, the one-call step runs the layers after the first cut by rows, each
    thread its rows through the forward, the loss and the dx products (train_step.cpp's layers_by_rows): the same
    bits as on one thread, where they run layer by layer, and the trace shows which ran."""
    one, two = _rows_step(batch, activation, 1), _rows_step(batch, activation, 2)
    assert same_bits(one[0], two[0]) and all(same_bits(a, b) for a, b in zip(one[1], two[1]))
    assert (one[2].get(ROWS_SCOPE, 0), two[2].get(ROWS_SCOPE, 0)) == (0, 1)
    assert two[2].get("step: fc2 forward", 0) == 0 and one[2]["step: fc2 forward"] == 1


@pytest.mark.parametrize("kernel", ["amx", "avx512bf16", "fma"])
def test_the_bf16_layers_cut_by_rows_give_the_same_bits(kernel):
    """bf16 products on AMX or vdpbf16ps sum each element over K blocks that K alone sets, so the one-call step
    cuts the layers after the first by rows there too, with the bits of one thread; bf16 on the float32 kernels
    (rounded copies on the plans of each call's own shape) stays layer by layer. At 257 rows the layers' inputs
    past 64 KiB are paired ahead as B on one thread (pairs_pay) and packed by their dW products on two."""
    if kernel not in ops.bf16_kernels():
        pytest.skip(f"this CPU cannot run the bf16 kernel {kernel!r}")
    sizes = (60, 96, 64, 10)
    one, two = (_rows_step(257, "relu", t, sizes, products=kernel) for t in (1, 2))
    assert same_bits(one[0], two[0]) and all(same_bits(a, b) for a, b in zip(one[1], two[1]))
    float32 = _rows_step(257, "relu", 1, sizes)
    assert not same_bits(one[0], float32[0])                   # the products did run in bf16
    assert (one[2].get(ROWS_SCOPE, 0), two[2].get(ROWS_SCOPE, 0)) == (0, 0 if kernel == "fma" else 1)


def test_a_bf16_dw_of_two_k_blocks_is_cut_by_depth_with_the_bits_of_one_thread():
    """On vdpbf16ps, a product whose K is two of the kernel's K blocks (512 each), the second at least 0.4 K, runs
    cut by depth on two threads (gemm.cpp's bf16_by_depth): a block each, then C = C + the second block's sums, which
    is what one thread adds, so the same bits. Such a cut writes W's rows between the threads as the update's pass
    does, so fc1's update (W1 120 x 300) rides on its dW at batch 1000; at 800 (a second block of 288) fc1's dW stays
    cut by columns, without it."""
    if "avx512bf16" not in ops.bf16_kernels():
        pytest.skip("this CPU has no AVX512-BF16")
    sizes, riding = (300, 120, 24, 10), "backward: dW product, W updated in it"
    rides = {}
    for batch in (800, 1000):
        one, two = (_rows_step(batch, "relu", t, sizes, products="avx512bf16") for t in (1, 2))
        assert same_bits(one[0], two[0]) and all(same_bits(a, b) for a, b in zip(one[1], two[1])), batch
        rides[batch] = two[2].get(riding, 0)
    assert rides[1000] == rides[800] + 1


@pytest.mark.parametrize("bad", ["weight", "bias", "target"])
def test_the_layers_cut_by_rows_check_their_input_before_any_work(bad):
    """A bad layer after the first, or a bad target, at 130 rows: the message of the layered path (one thread) on
    two threads too, and no parameter changed."""
    W = [rand(24, 60, dtype=torch.float32, seed=1), rand(10, 24, dtype=torch.float32, seed=2)]
    B = [torch.zeros(24), torch.zeros(10)]
    y = torch.randint(0, 10, (130,), generator=torch.Generator().manual_seed(4))
    if bad == "weight":
        W[1] = rand(10, 23, dtype=torch.float32, seed=2)
    elif bad == "bias":
        B[1] = torch.zeros(9)
    else:
        y[7] = 10
    before = [t.clone() for t in W + B]
    messages = []
    for threads in (1, 2):
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with ops.gemm("own"), pytest.raises(ValueError if bad == "target" else RuntimeError) as error:
                OP.mlp_sgd_step_(rand(130, 60, dtype=torch.float32, seed=3), y, W, B, [], "relu", 0.1, 0.0, 0.0, 0.0,
                                 False, False)
        finally:
            torch.set_num_threads(torch_threads)
        messages.append(str(error.value).splitlines()[0])
        assert all(same_bits(t, u) for t, u in zip(W + B, before))
    assert messages[0] == messages[1]
    expected = {"weight": "23", "bias": "bias: expected shape (10,)", "target": "class index 10 at position 7"}
    assert expected[bad] in messages[0]


def test_a_batch_of_one_updates_with_the_products_zeros():
    """At a batch of one the update makes dW's rows itself (with gemm.h's GEMM: ATen's makes its dW products);
    where x holds zeros, dz[i] · 0 is -0 for a negative dz[i], and the dW product (a sum from zero) stores +0.
    A weight at -0 then stays -0 without momentum (-0 + (-lr)·(+0)) and would turn +0 from a -0 gradient: the
    whole step must keep the product's zeros."""
    from minitorch_clf.engines import build_engine

    with ops.gemm("own"):
        layered, whole = (build_engine("fused", lr=0.05, momentum=0.0, seed=4) for _ in range(2))
        layered.whole_step = False
        for eng in (layered, whole):
            with torch.no_grad():
                eng.model.fc1.weight[:, :16] = -0.0
        g = torch.Generator().manual_seed(0)
        for step in range(3):
            x, y = torch.randn(1, 784, generator=g), torch.randint(0, 10, (1,), generator=g)
            x[0, :16] = 0.0
            assert same_bits(whole.step(x, y), layered.step(x, y)), step
    assert same_bits(whole.model.fc1.weight, layered.model.fc1.weight)
    assert torch.signbit(whole.model.fc1.weight[:, :16]).all()       # -0 kept: the test met the case


@pytest.mark.parametrize("batch", [1, 33])
def test_a_step_with_a_weight_not_contiguous_changes_nothing(batch, gemm):
    """A weight that is not contiguous: the step refuses it before any parameter changes. At a batch of one it
    takes the dW product (the outer-product update would have run after the biases' update); from two rows on the
    other weights' updates run inside their dW products, before the pass that would have refused it."""
    W = [rand(3, 5, dtype=torch.float32, seed=1).T.contiguous().T, rand(2, 3, dtype=torch.float32, seed=2)]
    B = [torch.zeros(3), torch.zeros(2)]
    before = [t.clone() for t in W + B]
    x, y = rand(batch, 5, dtype=torch.float32), torch.arange(batch) % 2
    with pytest.raises(RuntimeError, match=re.escape("params[0]: expected contiguous tensors")):
        OP.mlp_sgd_step_(x, y, W, B, [], "relu", 0.1, 0.0, 0.0, 0.0, False, False)
    assert all(same_bits(t, u) for t, u in zip(W + B, before))


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal bit for bit: torch.equal's values, and the sign of every zero."""
    bits = lambda t: t.reshape(-1).view(torch.int32 if t.element_size() == 4 else torch.int64)
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(bits(a), bits(b))


def same_steps(layered, whole, hyper: dict, batch: int = 33) -> None:
    """Six steps of the layer-by-layer engine and of the whole-step one, with `hyper` in their optimizer:
    the same losses and parameters, bit for bit."""
    layered.whole_step = False
    for eng in (layered, whole):
        eng.optimizer.param_groups[0].update(hyper)
    g = torch.Generator().manual_seed(0)
    for step in range(6):
        x, y = torch.randn(batch, 784, generator=g), torch.randint(0, 10, (batch,), generator=g)
        assert same_bits(whole.step(x, y), layered.step(x, y)), step
    for p, q in zip(whole.model.parameters(), layered.model.parameters()):
        assert same_bits(p, q)


@pytest.mark.parametrize("optimizer,kw", [("adam", {}), ("adamw", dict(weight_decay=0.01)),
                                          ("adam", dict(weight_decay=0.01, amsgrad=True)),
                                          ("adam", dict(maximize=True, betas=(0.8, 0.9))),
                                          ("adam", dict(activation="gelu")), ("adamw", dict(activation="tanh")),
                                          ("adam", dict(precision="bf16"))])
@pytest.mark.parametrize("batch", [33, 130, 1])
def test_adam_one_call_step_equals_the_layered_fused_step(optimizer, kw, batch, gemm):
    """mlp_adam_step_ (the fused engine's CPU step with Adam / AdamW) runs the layered step's kernels and
    adam_update_'s update, and computes each step's bias corrections as optim/adam.py does on the host:
    the same bits in the loss, the parameters and every state tensor, step counts included, from the very
    first step (the state starts as zeros either way). At 130 rows the layers after the first run cut by rows where
    they can. At a batch of one it makes no dW: the update computes each row from dz and x (adam_update_outer_cpu),
    with the same bits."""
    from minitorch_clf.engines import build_engine

    hyper = {k: v for k, v in kw.items() if k not in ("activation", "precision")}
    layered, whole = (build_engine("fused", optimizer=optimizer, lr=0.01, seed=4, activation=kw.get("activation"),
                                   precision=kw.get("precision")) for _ in range(2))
    assert whole.whole_step
    same_steps(layered, whole, hyper, batch)
    a, b = whole.optimizer.state_dict()["state"], layered.optimizer.state_dict()["state"]
    assert a.keys() == b.keys() and all(a[i].keys() == b[i].keys() for i in a)
    assert all(same_bits(a[i][k], b[i][k]) for i in a for k in a[i])
    assert a[0]["step"].item() == 6


@pytest.mark.parametrize("optimizer,kw", [("sgd", dict(momentum=0.9, weight_decay=0.01)), ("sgd", dict(momentum=0.0)),
                                          ("adam", dict(amsgrad=True)), ("adamw", dict(weight_decay=0.01))])
@pytest.mark.parametrize("batch", [33, 130])
def test_the_updates_made_in_the_dw_products_give_the_pass_bits_on_every_kernel(optimizer, kw, batch):
    """The one-call step updates a weight inside its dW product, block by block as the product finishes them
    (gemm.h's Done, train_step.cpp), where that product writes W as the update's pass would. Each kernel hands its
    blocks over its own way (the outer kernel its panels, the K-split plan of fc2's dW at 130 rows its rows, the
    others each thread's share). On one thread every update rides (the trace shows three), on the process's threads
    those the rule lets; on every ISA this CPU runs and with every bf16 kernel, the same bits as the layered step,
    whose update is a pass of its own."""
    from torch.profiler import ProfilerActivity, profile

    from minitorch_clf.engines import build_engine

    ops.load()
    kernels = [(i, "float32", None) for i in ops.cpu_isas()] + [("auto", "bf16", k) for k in ops.bf16_kernels()]
    threads = torch.get_num_threads()
    for isa, precision, bf16 in kernels:
        for t in sorted({1, threads}):
            torch.set_num_threads(t)
            try:
                with ops.gemm("own"), ops.isa(isa), ops.bf16_kernel(bf16 or ops.bf16_kernels()[0]):
                    layered, whole = (build_engine("fused", optimizer=optimizer, lr=0.01, seed=4, precision=precision)
                                      for _ in range(2))
                    same_steps(layered, whole, kw, batch)
                    with profile(activities=[ProfilerActivity.CPU]) as prof:
                        whole.step(torch.randn(batch, 784), torch.randint(0, 10, (batch,)))
            finally:
                torch.set_num_threads(threads)
            rides = {e.key: e.count for e in prof.key_averages()}.get("backward: dW product, W updated in it", 0)
            assert t > 1 or rides == 3, (isa, precision, bf16, rides)


def test_adam_one_call_step_with_a_bad_target_changes_nothing():
    """A target out of range stops mlp_adam_step_ in its cross-entropy, before the update: the parameters,
    the moments and the step counts are as they were."""
    from minitorch_clf.engines import build_engine

    eng = build_engine("fused", optimizer="adam", lr=0.01, seed=0)
    x = torch.randn(8, 784)
    eng.step(x, torch.randint(0, 10, (8,)))
    before = [t.clone() for t in eng.model.parameters()], eng.optimizer.state_dict()["state"]
    before = before[0], {i: {k: v.clone() for k, v in st.items()} for i, st in before[1].items()}
    with pytest.raises(Exception, match="target"):
        eng.step(x, torch.tensor([0, 1, 2, 3, 4, 5, 6, 10]))
    assert all(torch.equal(p, q) for p, q in zip(eng.model.parameters(), before[0]))
    after = eng.optimizer.state_dict()["state"]
    assert all(torch.equal(after[i][k], before[1][i][k]) for i in after for k in after[i])


def test_fullgraph_compile_has_no_graph_breaks():
    step = two_layer_step
    args = (rand(8, 6, dtype=torch.float32), rand(5, 6, dtype=torch.float32, seed=1), rand(5, dtype=torch.float32, seed=2),
            rand(3, 5, dtype=torch.float32, seed=3), rand(3, dtype=torch.float32, seed=4), torch.tensor([0, 1, 2] * 2 + [0, 1]))
    explained = torch._dynamo.explain(step)(*args)
    assert explained.graph_break_count == 0 and explained.graph_count == 1
    compiled = torch.compile(step, fullgraph=True)
    for a, r in zip(compiled(*args), step(*args)):
        torch.testing.assert_close(a, r)


@pytest.mark.parametrize("call,words", [
    (lambda: ops.linear_forward(rand(4, 6), rand(3, 5), rand(3), "identity"), ["x", "(N, 5)", "[4, 6]"]),
    (lambda: ops.linear_forward(rand(4, 5), rand(3, 5), rand(4), "identity"), ["bias", "(3,)"]),
    (lambda: ops.linear_forward(rand(4, 5, dtype=torch.float32), rand(3, 5), rand(3), "relu"), ["dtype", "Float"]),
    (lambda: ops.linear_forward(rand(4, 5), rand(5), rand(3), "identity"), ["weight", "out_features"]),
    (lambda: ops.linear_backward(rand(4, 2), rand(4, 5), rand(3, 5), rand(4, 2), "relu", True), ["dout", "(4, 3)"]),
    # the segfault: weight's in_features (1) is not x's (200000)
    (lambda: ops.linear_backward(rand(64, 128), rand(64, 200000), rand(128, 1), rand(64, 128), "relu", True),
     ["x", "(N, 1)", "[64, 200000]"]),
    (lambda: ops.linear_backward(rand(4, 3), rand(4, 5, 1), rand(3, 5), rand(4, 3), "relu", True), ["x", "[4, 5, 1]"]),
    (lambda: ops.linear_backward(rand(4, 3), rand(4, 5), rand(3, 5), rand(4, 3, dtype=torch.float32), "relu", True),
     ["dout, saved", "Double", "Float"]),
    (lambda: ops.linear_forward(rand(4, 5).half(), rand(3, 5).half(), rand(3).half(), "gelu"), ["x", "Half"]),
    (lambda: OP.mlp_products([rand(4, 5).float()], [rand(3, 5).float()], [rand(4, 7).float()], "own"), ["dout", "(4, 3)"]),
    (lambda: OP.mlp_products([rand(4, 5).float()], [rand(3, 6).float()], [rand(4, 3).float()], "aten"), ["x", "(N, 6)"]),
    (lambda: OP.mlp_sgd_step_(rand(4, 5), torch.tensor([0, 1, 2, 0]), [rand(3, 5), rand(2, 4)], [rand(3), rand(2)], [],
                              "relu", 0.1, 0.0, 0.0, 0.0, False, False), ["x", "(N, 4)", "[4, 3]"]),
    (lambda: OP.mlp_sgd_step_(rand(4, 5), torch.tensor([0, 1, 2, 0]), [rand(3, 5)], [rand(3)], [rand(3, 5), rand(4)],
                              "tanh", 0.1, 0.9, 0.0, 0.0, False, False), ["momentum_buffers[1]", "[3]", "[4]"]),
    (lambda: OP.mlp_adam_step_(rand(4, 5), torch.tensor([0, 1, 2, 0]), [rand(3, 5)], [rand(3)], [torch.tensor(0.)],
                               [rand(3, 5), rand(3)], [rand(3, 5), rand(3)], [], "relu", 0.1, 0.9, 0.99, 1e-8, 0.0,
                               False, False, False), ["steps", "2", "1"]),
    (lambda: OP.mlp_adam_step_(rand(4, 5), torch.tensor([0, 1, 2, 0]), [rand(3, 5)], [rand(3)],
                               [torch.zeros(2), torch.tensor(0.)], [rand(3, 5), rand(3)], [rand(3, 5), rand(3)], [],
                               "relu", 0.1, 0.9, 0.99, 1e-8, 0.0, False, False, False), ["steps", "scalar", "[2]"]),
    (lambda: OP.mlp_adam_step_(rand(4, 5), torch.tensor([0, 1, 2, 0]), [rand(3, 5)], [rand(3)],
                               [torch.tensor(0.)] * 2, [rand(3, 5), rand(3)], [rand(3, 5), rand(4)], [], "relu", 0.1,
                               0.9, 0.99, 1e-8, 0.0, False, False, False), ["exp_avg_sqs[1]", "[3]", "[4]"]),
    (lambda: OP.own_mm(rand(4, 5).float(), rand(6, 2).float()), ["a, b", "[4, 5]", "[6, 2]"]),
    (lambda: ops.cross_entropy_forward_backward(rand(4, 3), torch.tensor([0., 1., 2., 2.])), ["target", "int64"]),
    (lambda: ops.cross_entropy_forward_backward(rand(4, 3), torch.tensor([0, 1])), ["target", "(4,)"]),
    (lambda: OP.sgd_update_([rand(3)], [rand(4)], [], 0.1, 0.0, 0.0, 0.0, False, False, False), ["grads[0]", "[4]"]),
    (lambda: OP.adam_update_([rand(3)], [rand(3)], [rand(3)], [rand(3)], [], [0.1, 0.2], [0.1], 0.1, 0.9, 0.99,
                             1e-8, 0.0, False, False, False), ["step_sizes"]),
])
def test_bad_inputs_name_the_argument(call, words):
    result = outcome(call)                       # in a child: a crash fails this case, not the run
    assert result.startswith("RuntimeError: "), result
    for w in words:
        assert w in result, (w, result)


@pytest.mark.parametrize("target,words", [([0, 1, 3, 2], ["3", "[0, 3)"]), ([0, 1, -1, 2], ["-1"])])
def test_a_target_outside_its_range_is_a_value_error(target, words):
    """The ops' other bad arguments raise RuntimeError (TORCH_CHECK); a target outside [0, C) raises ValueError, as
    the engines' own check of y does, so that every engine's step raises the same type for it (the fused engine's
    CPU step leaves that check to its kernel)."""
    result = outcome(lambda: ops.cross_entropy_forward_backward(rand(4, 3), torch.tensor(target)))
    assert result.startswith("ValueError: target: class index"), result
    for w in words:
        assert w in result, (w, result)


def test_a_crash_in_the_child_is_reported():
    """The helper above can fail: a child that dies shows as its signal."""
    crash = lambda: (faulthandler.disable(), os.kill(os.getpid(), signal.SIGSEGV))   # quietly: no stack dump
    assert outcome(crash) == "died: SIGSEGV"
    assert outcome(lambda: None) == "returned"


def test_build_is_cached_and_reports_its_library(capsys):
    info = ops.load()
    assert info["library"].is_file()
    from minitorch_clf.cli import main

    assert main(["build"]) == 0
    out = capsys.readouterr().out
    assert str(info["library"]) in out and "linear_forward" in out
    assert ("direct calls (no dispatcher: the fused engine's CPU step, bench --gemm): adam_step, mlp_products, own_mm, "
            "own_mm_plan, sgd_step") in out


def test_ops_work_before_load_and_builds_are_per_checkout():
    """A fresh process may call an op without ops.load(); the build folder names the checkout, so two
    checkouts sharing ~/.cache/minitorch_clf keep a library each instead of rebuilding in turn."""
    from child import outcome_of_script

    result = outcome_of_script("""if True:
        import torch
        from minitorch_clf import ops
        out, _ = ops.linear_forward(torch.ones(2, 3), torch.ones(4, 3), torch.zeros(4), "relu")
        print(out.sum().item())
        """)
    assert result == "24.0", result
    import hashlib

    assert ops.build_root().name.endswith(hashlib.sha1(str(ops.kernel_dir()).encode()).hexdigest()[:8])


def test_the_build_folder_records_its_checkout():
    """So that `build --prune` can tell, once this checkout is deleted, that nothing loads its folder again."""
    ops.load()
    assert (ops.build_root() / ops.build_folders.MARKER).read_text() == f"{ops.kernel_dir()}\n"


def test_missing_compiler_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(ops._state, "cpu", None)
    ops._state.pop("cpu")
    monkeypatch.setenv("CXX", "no-such-compiler-xyz")
    with pytest.raises(ops.BuildError, match="no C\\+\\+ compiler"):
        ops.load()


def test_wheel_ships_every_module_and_kernel_source(tmp_path):
    """A non-editable install gets every module and kernels/ as minitorch_clf/kernels, where ops.kernel_dir()
    looks. Built from a copy of the sources: setuptools reuses a checkout's build/lib, where a file an older
    pyproject shipped stays."""
    import shutil
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sources = tmp_path / "src"
    sources.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, sources / name)
    for name in ("minitorch_clf", "kernels"):
        shutil.copytree(root / name, sources / name, ignore=shutil.ignore_patterns("__pycache__"))
    built_wheel = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                                  "-w", str(tmp_path), str(sources)], capture_output=True, text=True, timeout=600)
    assert built_wheel.returncode == 0, built_wheel.stdout[-2000:] + built_wheel.stderr[-2000:]
    (wheel,) = tmp_path.glob("minitorch_clf-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    kernels = ops.kernel_dir()
    built = [p for kind in ("common", "cpu", "cuda") for p in (kernels / kind).rglob("*") if p.is_file()]
    assert len(built) >= 20
    for src in built:                             # every file the builds may read, gemm/ and cuda/'s .cuh included
        assert f"minitorch_clf/kernels/{src.relative_to(kernels).as_posix()}" in names
    modules = [p.relative_to(root).as_posix() for p in (root / "minitorch_clf").rglob("*.py")]
    assert len(modules) >= 40
    assert not [m for m in modules if m not in names]       # pyproject lists the subpackages one by one


def test_build_cuda_without_nvcc_says_it_skipped(monkeypatch, capsys):
    from minitorch_clf.cli import main

    monkeypatch.setattr(ops, "cuda_home", lambda: None)
    assert main(["build", "--cuda"]) == 0
    assert "cuda kernels: skipped: nvcc not found" in capsys.readouterr().out


def fake_toolkit(root, version: int):
    """A CUDA toolkit folder as cuda_home() and toolkit_version() read it: bin/nvcc, cuda_runtime.h, cuda.h."""
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "nvcc").write_text("")
    (root / "include").mkdir()
    (root / "include" / "cuda_runtime.h").write_text("")
    (root / "include" / "cuda.h").write_text(f"#pragma once\n#define CUDA_VERSION {version}\n")
    return root


def test_a_toolkit_of_another_cuda_major_is_one_line_before_any_compile(tmp_path, monkeypatch, capsys):
    """nvcc 13 against a torch built with CUDA 12 (PyPI's torch 2.8.0 and 2.10.0 wheels: 12.8) fails in its first
    file with a compiler message; the build says why first, and the CUDA tests skip with that line."""
    from minitorch_clf.cli import main
    from minitorch_clf.ops import build

    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setenv("CUDA_HOME", str(fake_toolkit(tmp_path / "cuda-13.0", 13000)))
    monkeypatch.delitem(build._state, "cuda", raising=False)
    why = ops.cuda_unbuildable()
    assert why == (f"the CUDA toolkit in {tmp_path / 'cuda-13.0'} is 13.0 and torch {torch.__version__} was built "
                   "with CUDA 12.8: set CUDA_HOME to a CUDA 12 toolkit, or install a torch built for CUDA 13")
    assert main(["build", "--cuda"]) == 2
    assert capsys.readouterr().err == f"minitorch-clf: error: {why}\n"

    monkeypatch.setenv("CUDA_HOME", str(fake_toolkit(tmp_path / "cuda-12.4", 12040)))
    assert build.toolkit_version(os.environ["CUDA_HOME"]) == "12.4"
    assert ops.cuda_unbuildable() is None                      # minor versions may differ, as cpp_extension allows


def test_kernels_call_the_c_runtime_torch_uses():
    """No private copy of libstdc++ inside the kernels' library (its std::locale is never set up, and
    formatting a number in an error message crashed there: ops.runtime_link_flags)."""
    import subprocess

    library = str(ops.load()["library"])
    needed = subprocess.run(["readelf", "-d", library], capture_output=True, text=True, check=True).stdout
    defined = subprocess.run(["nm", "-D", "--defined-only", library], capture_output=True, text=True, check=True).stdout
    assert "libstdc++.so.6" in needed
    assert " _ZNSt6locale" not in defined


@pytest.mark.parametrize("call,words", [
    (lambda: OP.linear_forward(torch.empty(4, 6), torch.empty(3, 5), torch.empty(3), "identity"), ["x", "(N, 5)"]),
    (lambda: OP.linear_forward(torch.empty(4, 5), torch.empty(3, 5), torch.empty(3), "swish"), ["activation", "'swish'"]),
    (lambda: OP.linear_backward(torch.empty(4, 2), torch.empty(4, 5), torch.empty(3, 5), torch.empty(4, 2), "relu", True),
     ["dout", "(4, 3)"]),
    (lambda: OP.cross_entropy_forward_backward(torch.empty(4, 3), torch.empty(5, dtype=torch.long)), ["target", "(4,)"]),
    (lambda: OP.own_mm(torch.empty(4, 5), torch.empty(6, 2), "auto"), ["a, b"]),
])
def test_fake_kernels_check_shapes(call, words):
    """What torch.compile traces: the fakes refuse what the kernels refuse (torch._check), not just shape outputs."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    ops.load()
    with FakeTensorMode(), pytest.raises(RuntimeError) as info:
        call()
    assert all(w in str(info.value) for w in words), str(info.value)


def test_empty_lists_are_answered_not_dumped():
    """Lists with no tensor give the dispatcher nothing to choose a device by: the ops still answer."""
    assert OP.sgd_update_([], [], [], 0.1, 0.0, 0.0, 0.0, False, False, False) is None
    assert OP.adam_update_([], [], [], [], [], [], [], 0.1, 0.9, 0.99, 1e-8, 0.0, False, False, False) is None
    assert OP.mlp_products([], [], [], "own") == []


def _meta_beside_cpu():
    x, w, b, d = rand(4, 3), rand(5, 3), rand(5), rand(4, 5)
    m = lambda t: t.to("meta")
    return [("x, weight, bias", lambda: ops.linear_forward(x, m(w), b, "relu")),
            ("dout, x, weight, saved", lambda: ops.linear_backward(d, x, m(w), d, "relu", True)),
            ("logits, target", lambda: ops.cross_entropy_forward_backward(m(d), torch.zeros(4, dtype=torch.long))),
            ("a, b", lambda: ops.own_mm(x.float(), m(w.T.float()))),
            ("params, grads", lambda: OP.sgd_update_([w], [m(w)], [], 0.1, 0.0, 0.0, 0.0, False, False, False))]


@pytest.mark.parametrize("names,call", _meta_beside_cpu(), ids=lambda v: v if isinstance(v, str) else "")
def test_a_meta_tensor_beside_cpu_ones_is_refused(names, call):
    """The fake kernels answer for meta tensors (the Meta key outranks CPU): a meta tensor among CPU ones got a
    made-up result on the CPU instead of an error. All-meta inputs stay shape inference."""
    with pytest.raises(RuntimeError, match=f"{names}.*expected one device, got cpu, meta"):
        call()
    out, _ = ops.linear_forward(rand(4, 3).to("meta"), rand(5, 3).to("meta"), rand(5).to("meta"), "relu")
    assert out.device.type == "meta" and out.shape == (4, 5)


def test_the_one_call_step_shows_its_pieces_to_the_profiler():
    """mlp_sgd_step_'s profiler scopes (train_step.cpp, linear.cpp): each piece of the step by name, nested."""
    from torch.profiler import ProfilerActivity, profile

    from minitorch_clf.ops import tune

    _, (acts, weights, _) = tune.step_products(16, (40, 24, 10))
    step = tune.sgd_step(acts, weights)
    for gemm, dw in (("own", "backward: dW product, W updated in it"), ("aten", "backward: dW product")):
        with ops.gemm(gemm):
            step()
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                step()
        seen = {e.key: e.count for e in prof.key_averages()}
        expected = {"step: fc1 forward": 1, "step: fc2 forward": 1, "step: cross-entropy": 1, "step: fc2 backward": 1,
                    "step: fc1 backward": 1, "step: sgd update": 1, "backward: bias gradient": 2, dw: 2,
                    "backward: dx product": 1}
        assert {k: seen.get(k) for k in expected} == expected, gemm


@pytest.mark.parametrize("batch,threads", [(16, 2), (130, 2), (130, 1)])   # layer by layer; cut by rows; one thread
def test_the_one_call_step_makes_no_tensor_but_its_loss(batch, threads):
    """From its second step on, mlp_sgd_step_ takes its activations, gradients and products' outputs from the step
    before (train_step.cpp's StepTensors): the allocator sees it make one tensor, the loss it returns, where it
    made about twenty. A loss returned before stays as it was, and the steps give the bits of fresh tensors (the
    parity tests above run steps of several shapes in one process)."""
    from torch.profiler import ProfilerActivity, profile

    sizes = (60, 48, 24, 10)
    W = [rand(o, i, dtype=torch.float32, seed=k) * i ** -0.5 for k, (i, o) in enumerate(zip(sizes, sizes[1:]))]
    B = [torch.zeros(o) for o in sizes[1:]]
    bufs = [torch.zeros_like(t) for p in zip(W, B) for t in p]
    x = rand(batch, sizes[0], dtype=torch.float32, seed=20)
    y = torch.randint(0, sizes[-1], (batch,), generator=torch.Generator().manual_seed(21))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with ops.gemm("own"):
            first = OP.mlp_sgd_step_(x, y, W, B, bufs, "relu", 0.1, 0.9, 0.0, 0.0, False, False)
            kept = first.clone()
            with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
                second = OP.mlp_sgd_step_(x, y, W, B, bufs, "relu", 0.1, 0.9, 0.0, 0.0, False, False)
    finally:
        torch.set_num_threads(before)
    made = [e.self_cpu_memory_usage for e in prof.events() if e.self_cpu_memory_usage > 0]   # each allocation's bytes
    assert made == [second.element_size()], made
    assert same_bits(first, kept) and first.data_ptr() != second.data_ptr()


def _one_call_state(optimizer: str, batch: int, seed: int = 30):
    """(x, y, the step's tensors after them, the scalars) of a small MLP's mlp_sgd_step_ or mlp_adam_step_; the
    parameters require grad, as the engine's do."""
    sizes = (60, 48, 24, 10)
    W = [(rand(o, i, dtype=torch.float32, seed=seed + k) * i ** -0.5).requires_grad_()
         for k, (i, o) in enumerate(zip(sizes, sizes[1:]))]
    B = [(torch.rand(o, generator=torch.Generator().manual_seed(seed + 9 + k)) * 0.1).requires_grad_()
         for k, o in enumerate(sizes[1:])]
    x = rand(batch, sizes[0], dtype=torch.float32, seed=seed + 20)
    y = torch.randint(0, sizes[-1], (batch,), generator=torch.Generator().manual_seed(seed + 21))
    g = torch.Generator().manual_seed(seed + 22)
    like = lambda: [torch.rand(t.shape, generator=g) for p in zip(W, B) for t in p]
    if optimizer == "sgd":
        return x, y, [W, B, like()], ["relu", 0.1, 0.9, 0.0, 0.01, True, False]
    state = [[torch.tensor(3.0) for _ in range(6)]] + [like() for _ in range(3)]
    return x, y, [W, B, *state], ["relu", 1e-3, 0.9, 0.999, 1e-8, 0.01, True, True, False]


def _one_call(how: str, optimizer: str, x, y, tensors, scalars):
    if how == "op":
        op = OP.mlp_sgd_step_ if optimizer == "sgd" else OP.mlp_adam_step_
        with torch._C._AutoDispatchBelowAutograd():
            return op(x, y, *tensors, *scalars)
    call = ops.direct().sgd_step if optimizer == "sgd" else ops.direct().adam_step
    return call(x, y, *tensors, *scalars)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("batch", [1, 33, 130])
def test_the_direct_calls_give_the_ops_bits(optimizer, batch, gemm):
    """ops.direct()'s sgd_step and adam_step (kernels/cpu/direct_calls.cpp: the fused engine's CPU step without
    the dispatcher) run the ops' CPU kernels: from the same state, three steps each give the same loss and the
    same parameters and optimizer state, bit for bit. The parameters require grad, as the engine's do, and the
    loss does not."""
    runs = {}
    for how in ("op", "direct"):
        x, y, tensors, scalars = _one_call_state(optimizer, batch)
        losses = [_one_call(how, optimizer, x, y, tensors, scalars) for _ in range(3)]
        runs[how] = losses, [t.detach() for ts in tensors for t in ts]
    assert not any(loss.requires_grad for loss in runs["direct"][0])
    for a, b in zip(runs["op"][0] + runs["op"][1], runs["direct"][0] + runs["direct"][1]):
        assert same_bits(a, b)
    assert [t.item() for t in runs["direct"][1][6:12]] == [6.0] * 6 if optimizer == "adam" else True


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("bad", ["target", "weight", "device"])
def test_the_direct_calls_refuse_what_the_ops_refuse(optimizer, bad):
    """A bad target or a weight of the wrong shape (its state, checked first, no longer matches it): the direct
    call raises the op's exception type with the op's message (no C++ backtrace in it), before any parameter
    changes; a tensor off the CPU (here on the meta device): a ValueError naming it (the op would look for that
    device's kernel instead)."""
    raised = {}
    for how in ("op", "direct"):
        x, y, tensors, scalars = _one_call_state(optimizer, 33)
        if bad == "target":
            y[5] = 10
        elif bad == "weight":
            tensors[0][1] = torch.zeros(24, 47, requires_grad=True)
        elif how == "direct":
            x = x.to("meta")
        else:
            continue
        before = [t.detach().clone() for ts in tensors for t in ts]
        with pytest.raises(Exception) as info:
            _one_call(how, optimizer, x, y, tensors, scalars)
        raised[how] = type(info.value), str(info.value)
        assert all(same_bits(a, b.detach()) for a, b in zip(before, [t for ts in tensors for t in ts]))
    kind, message = raised["direct"]
    if bad == "device":
        assert (kind, message) == (ValueError, "x: expected a CPU tensor (this is the CPU step), got meta")
    else:
        assert (kind, message) == raised["op"] and "Exception raised from" not in message
        first = {"target": "target: class index 10 at position 5",
                 "weight": "momentum_buffers[2]:" if optimizer == "sgd" else "exp_avgs[2]:"}[bad]
        assert message.startswith(first), message


@pytest.mark.parametrize("batch,products", [(1, 0), (2, 2)])
def test_at_a_batch_of_one_the_sgd_step_makes_no_dw(batch, products):
    """mlp_sgd_step_ at batch 1: every dW is an outer product, and the update computes it (no "backward: dW
    product" in the trace); from two rows on each dW is a sum, made by the product as before."""
    from torch.profiler import ProfilerActivity, profile

    from minitorch_clf.ops import tune

    _, (acts, weights, _) = tune.step_products(batch, (40, 24, 10))
    step = tune.sgd_step(acts, weights)
    with ops.gemm("own"):                   # the outer-product update reproduces this GEMM's dW
        step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step()
    seen = {e.key: e.count for e in prof.key_averages()}
    assert seen.get("backward: dW product, W updated in it", 0) == products and seen["step: sgd update"] == 1


def test_at_a_batch_of_one_the_adam_step_makes_no_dw():
    """mlp_adam_step_ at batch 1, as mlp_sgd_step_: no dW product in the trace."""
    from torch.profiler import ProfilerActivity, profile

    from minitorch_clf.engines import build_engine

    eng = build_engine("fused", optimizer="adam", lr=0.01, seed=0)
    x, y = torch.randn(1, 784), torch.tensor([3])
    with ops.gemm("own"):
        eng.step(x, y)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            eng.step(x, y)
    seen = {e.key: e.count for e in prof.key_averages()}
    assert not any(k.startswith("backward: dW product") for k in seen) and seen["step: adam update"] == 1
