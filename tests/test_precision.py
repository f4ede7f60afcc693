"""Precision as a parameter (functional.round_to, --precision): the rounding itself, the hand-written
linear layer under it, the engines that run it and those that refuse it, and the command line."""
import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from minitorch_clf import checks
from minitorch_clf import functional as MF
from minitorch_clf.config import TrainConfig
from minitorch_clf.engines import build_engine
from minitorch_clf.errors import UsageError


def _specials():
    big, tiny = 3.4028234663852886e38, 1.401298464324817e-45
    return torch.tensor([float("inf"), -float("inf"), float("nan"), -float("nan"), big, -big, tiny, -tiny, 0.0, -0.0,
                         1.17549435e-38, 1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-11, 1 + 3 * 2**-11])


def test_bf16_rounding_is_torchs_conversion_bit_for_bit():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(200_000, generator=g) * torch.exp(torch.randn(200_000, generator=g) * 30), _specials()])
    ours, torchs = MF.round_to(x, "bf16"), x.to(torch.bfloat16).float()
    assert torch.equal(ours.isnan(), torchs.isnan())
    keep = ~x.isnan()
    assert torch.equal(ours[keep].view(torch.int32), torchs[keep].view(torch.int32))


def test_tf32_rounds_to_nearest_ten_bit_mantissa_ties_to_even():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(100_000, generator=g) * torch.exp(torch.randn(100_000, generator=g) * 10)
    r = MF.round_to(x, "tf32")
    assert int((r.view(torch.int32) & 0x1FFF).abs().max()) == 0             # 13 low bits dropped
    x64, r64 = x.double(), r.double()
    ulp = torch.ldexp(torch.ones_like(x64), torch.frexp(x64).exponent - 11)  # tf32's step at |x|: 2^(e-1-10)
    assert ((r64 - x64).abs() <= ulp / 2).all()                              # the nearest
    ties = torch.tensor([1 + 2**-11, 1 + 3 * 2**-11, -(1 + 2**-11)])         # exactly between two tf32 values
    assert MF.round_to(ties, "tf32").tolist() == [1.0, 1 + 2**-9, -1.0]       # to the even one
    s = _specials()
    assert torch.equal(MF.round_to(s, "tf32").isnan(), s.isnan())
    assert MF.round_to(torch.tensor([3.4028234663852886e38]), "tf32").item() == float("inf")


def test_round_to_refuses_what_it_cannot_round():
    x = torch.randn(3)
    assert MF.round_to(x, "float32") is x
    with pytest.raises(ValueError, match="precision: expected one of float32, tf32, bf16, got 'fp8'"):
        MF.round_to(x, "fp8")
    with pytest.raises(TypeError, match="x: round_to rounds float32 values, got torch.float64"):
        MF.round_to(x.double(), "bf16")


@pytest.mark.parametrize("fmt", ["bf16", "tf32"])
def test_linear_under_a_precision_is_the_float32_product_of_rounded_operands(fmt):
    g = torch.Generator().manual_seed(2)
    x, w, b, dout = (torch.randn(*s, generator=g) for s in ((9, 30), (7, 30), (7,), (9, 7)))
    r = lambda t: MF.round_to(t, fmt)
    out, cache = MF.linear_forward(x, w, b, fmt)
    assert torch.equal(out, torch.addmm(b, r(x), r(w).T))
    dx, dw, db = MF.linear_backward(dout, cache)
    assert torch.equal(dx, r(dout) @ r(w)) and torch.equal(dw, r(dout).T @ r(x)) and torch.equal(db, dout.sum(0))
    plain, _ = MF.linear_forward(x, w, b)
    assert not torch.equal(out, plain), "the rounding changed nothing: a test that could not fail"


def test_linear_backward_under_bf16_is_autograds_with_straight_through_rounding():
    """Autograd of y = (round(x) round(W)ᵀ) + b with the rounding passed straight through, the gradient of
    the product rounded on its way in (what autocast's bf16 product does), the bias's not."""
    g = torch.Generator().manual_seed(3)
    x, w, b, dout = (torch.randn(*s, generator=g) for s in ((6, 20), (5, 20), (5,), (6, 5)))
    xa, wa, ba = (t.clone().requires_grad_() for t in (x, w, b))
    st = lambda t: t + (MF.round_to(t.detach(), "bf16") - t).detach()
    z = F.linear(st(xa), st(wa))
    z.register_hook(lambda grad: MF.round_to(grad, "bf16"))
    (z + ba).backward(dout)
    _, cache = MF.linear_forward(x, w, b, "bf16")
    dx, dw, db = MF.linear_backward(dout, cache)
    for ours, ref in ((dx, xa.grad), (dw, wa.grad), (db, ba.grad)):
        torch.testing.assert_close(ours, ref)


def test_manual_bf16_follows_the_autocast_reference_and_is_not_the_float32_step():
    torch.manual_seed(0)
    x, y = torch.randn(64, 784), torch.randint(0, 10, (64,))
    engines = {(n, p): build_engine(n, lr=0.05, precision=p) for n in ("reference", "manual") for p in ("float32", "bf16")}
    for _ in range(5):
        losses = {k: e.step(x, y) for k, e in engines.items()}
    params = {k: torch.cat([p.detach().reshape(-1) for p in e.model.parameters()]) for k, e in engines.items()}
    bound = checks.PRECISION_BOUND["bf16"]
    scale = params["reference", "float32"].abs().max()
    assert (params["manual", "bf16"] - params["reference", "bf16"]).abs().max() <= bound * scale
    assert abs(losses["manual", "bf16"] - losses["reference", "bf16"]) <= bound * losses["reference", "bf16"]
    # the bf16 step is another step: its weights moved away from float32's by far more than float32's own noise
    bf16_gap = (params["manual", "bf16"] - params["manual", "float32"]).abs().max()
    f32_gap = (params["manual", "float32"] - params["reference", "float32"]).abs().max()
    assert bf16_gap > 100 * f32_gap
    logits = engines["reference", "bf16"].predict(x)
    assert logits.dtype == torch.float32


@pytest.mark.parametrize("kw,message", [
    (dict(name="fused", precision="tf32"), "precision: tf32 is the format NVIDIA tensor cores read"),
    (dict(name="jax", precision="tf32"), "precision: the jax engine runs float32 products, and bf16 on a CPU"),
    (dict(name="fused", precision="bf16", dtype=torch.float64), "precision: bf16 rounds the operands of float32"),
    (dict(name="manual", precision="tf32"), "precision: tf32 is the format NVIDIA tensor cores read"),
    (dict(name="manual", precision="bf16", dtype=torch.float64), "precision: bf16 rounds the operands of float32"),
    (dict(name="manual", precision="fp16"), "precision: expected one of float32, tf32, bf16, got 'fp16'"),
])
def test_engines_that_cannot_run_a_precision_refuse_it(kw, message):
    with pytest.raises(ValueError, match=message):
        build_engine(**kw)


def test_check_reports_bf16_errors_and_cannot_pass_without_rounding(monkeypatch):
    rows = checks.precision_rows("bf16")
    assert all(r.passed for r in rows) and {r.against for r in rows} == {"float64", "autocast"}
    monkeypatch.setattr(MF, "round_to", lambda x, fmt: x)                    # a "bf16" that rounds nothing
    assert not any(r.passed for r in checks.precision_rows("bf16") if r.against == "float64")


def test_train_config_takes_precision_and_reads_older_runs_as_float32():
    TrainConfig(engine="manual", precision="bf16").validate()
    with pytest.raises(UsageError, match="precision: tf32 is the format NVIDIA tensor cores read"):
        TrainConfig(engine="fused", precision="tf32").validate()      # a GPU's: fused runs it there
    with pytest.raises(UsageError, match="precision: expected one of float32, tf32, bf16, got 'half'"):
        TrainConfig(precision="half").validate()
    old = {k: v for k, v in TrainConfig().__dict__.items() if k != "precision"}
    assert TrainConfig.from_dict(json.loads(json.dumps(old))).precision == "float32"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "minitorch_clf.cli", *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "MINITORCH_CLF_TUNE": "0"})


@pytest.mark.slow
def test_cli_precision(tmp_path):
    run = _cli("train", "--engine", "manual", "--precision", "bf16", "--epochs", "1", "--out", str(tmp_path / "r"),
               "--no-progress")
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "r" / "config.json").read_text())["precision"] == "bf16"
    run = _cli("train", "--resume", str(tmp_path / "r"), "--epochs", "2", "--no-progress")
    assert run.returncode == 0, run.stderr
    run = _cli("check", "--precision", "bf16")
    assert run.returncode == 0 and "bf16 products against float64" in run.stdout, run.stdout[-2000:]
    for args, message in [(("train", "--engine", "fused", "--precision", "tf32"), "precision: tf32 is the format"),
                          (("train", "--precision", "tf32"), "precision: tf32 is the format"),
                          (("check", "--precision", "tf32"), "precision: tf32 is the format"),
                          (("bench", "--engines", "jax", "--precision", "float32,tf32"), "jax: precision: the jax"),
                          (("bench", "--gemm", "--precision", "bf16"), "precision: the step and epoch benchmarks")]:
        run = _cli(*args)
        assert run.returncode == 2 and run.stderr.count("\n") == 1 and message in run.stderr, (args, run.stderr)


def test_compiled_engines_run_bf16_as_their_eager_ones():
    torch.manual_seed(0)
    x, y = torch.randn(32, 784), torch.randint(0, 10, (32,))
    for eager, compiled in (("manual", "compiled"), ("reference", "compiled-reference")):
        a, b = build_engine(eager, lr=0.05, precision="bf16"), build_engine(compiled, lr=0.05, precision="bf16")
        for _ in range(2):
            torch.testing.assert_close(b.step(x, y), a.step(x, y), rtol=1e-5, atol=1e-6)


def _bf16_kernels() -> list[str]:
    from minitorch_clf import ops

    return ops.bf16_kernels()


BF16_KERNELS = ["amx", "avx512bf16", "fma"]


@pytest.mark.parametrize("kernel", BF16_KERNELS)
def test_fused_bf16_gemm_is_the_float32_product_of_rounded_operands(kernel):
    """Each bf16 kernel - AMX tiles (gemm_amx.cpp), vdpbf16ps (gemm_bf16.cpp), rounded copies on the float32
    kernels (gemm.cpp) - against the exact product of the bf16-rounded operands, within the float32 bound
    of a K-term sum (test_gemm.py's), in every layout, at the tiles' edges and across K blocks (AMX's are
    about 256 deep, vdpbf16ps' 512)."""
    from minitorch_clf import ops
    from test_gemm import assert_within_bound, layout

    if kernel not in _bf16_kernels():
        with pytest.raises(ValueError, match=f"bf16_kernel: this CPU cannot run '{kernel}'"):
            ops.set_bf16_kernel(kernel)
        return
    g = torch.Generator().manual_seed(5)
    r = lambda t: MF.round_to(t.contiguous(), "bf16")
    with ops.precision("bf16"), ops.bf16_kernel(kernel):
        for m, k, n in [(1, 1, 1), (7, 3, 5), (8, 32, 32), (9, 33, 17), (33, 17, 45), (64, 784, 128), (130, 513, 70),
                        (1024, 64, 10), (40, 1100, 33)]:
            a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
            for la, lb in [("row", "col"), ("col", "row"), ("row", "row"), ("strided", "offset"), ("col", "col")]:
                c = ops.own_mm(layout(a, la), layout(b, lb))
                assert_within_bound(c, r(a), r(b))
                assert torch.equal(ops.own_mm(layout(a, la), layout(b, lb), "scalar"), ops.own_mm(a, b, "scalar"))
    assert torch.ops.minitorch_clf.set_precision("float32") == "float32"      # the context put float32 back
    assert torch.ops.minitorch_clf.set_bf16_kernel("auto") == "auto"


def test_the_fma_bf16_kernel_is_the_float32_gemm_on_round_to_operands_bit_for_bit():
    """'fma' rounds each operand with functional.round_to's bits (ties to even, NaN kept, subnormals
    rounded, the largest values to infinity) and runs the float32 GEMM: on row-major operands, the same
    plan, so the same bits as the float32 GEMM given round_to's operands."""
    from minitorch_clf import ops

    g = torch.Generator().manual_seed(6)
    a, b = torch.randn(33, 70, generator=g), torch.randn(70, 45, generator=g)
    a[1, 5] = float("nan")
    a[2] = torch.linspace(-1e-38, 1e-38, 70)                  # subnormal and tiny operands: kept, not flushed
    a[3, 0] = 3.3999e38                                       # past bf16's largest: rounds to infinity
    b[:3, 0] = torch.tensor([1 + 2**-8, 1 + 3 * 2**-8, -(1 + 2**-8)])       # exact halves: ties to even
    r = lambda t: MF.round_to(t, "bf16")
    expected = ops.own_mm(r(a), r(b))
    with ops.precision("bf16"), ops.bf16_kernel("fma"):
        got = ops.own_mm(a, b)
    assert torch.equal(got.isnan(), expected.isnan())
    assert torch.equal(got.nan_to_num(), expected.nan_to_num())


@pytest.mark.parametrize("kernel", BF16_KERNELS)
def test_fused_bf16_gemm_gives_the_same_bits_on_any_thread_count(kernel):
    """As the float32 GEMM, each kernel's bits do not depend on how many threads share the product: threads split
    C (AMX in 32 x 32 blocks; its K blocks depend on K alone), or, on vdpbf16ps, where K is two of its K blocks
    (120 x 1000 x 300) and two threads share it, one K block each, added as one thread adds them."""
    from minitorch_clf import ops

    if kernel not in _bf16_kernels():
        pytest.skip(f"this CPU cannot run the bf16 kernel {kernel!r}")
    g = torch.Generator().manual_seed(4)
    before = torch.get_num_threads()
    try:
        with ops.precision("bf16"), ops.bf16_kernel(kernel):
            for m, k, n in [(130, 1100, 70), (64, 784, 128), (10, 300, 64), (120, 1000, 300)]:
                a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
                out = []
                for threads in (1, 2, 3):
                    torch.set_num_threads(threads)
                    out.append(ops.own_mm(a, b))
                assert torch.equal(out[0], out[1]) and torch.equal(out[0], out[2]), (m, k, n)
    finally:
        torch.set_num_threads(before)


def test_bf16_kernel_choice():
    """'auto' takes the first kernel the CPU runs (AMX, vdpbf16ps, rounded copies on the FMAs); the kernels
    add the same products in other orders, so their bits differ (here: the step's fc1 product) while each
    holds the bound above; bad names are refused."""
    from minitorch_clf import ops

    kernels = ops.bf16_kernels()
    assert kernels[-1] == "fma" and set(kernels) <= set(BF16_KERNELS)
    with pytest.raises(ValueError, match="bf16_kernel: expected one of"):
        ops.set_bf16_kernel("tiles")
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(64, 784, generator=g), torch.randn(784, 128, generator=g)
    with ops.precision("bf16"):
        out = {}
        for k in ["auto", *kernels]:
            with ops.bf16_kernel(k):
                out[k] = ops.own_mm(a, b)
    assert torch.equal(out["auto"], out[kernels[0]])
    for one, other in zip(kernels, kernels[1:]):
        assert not torch.equal(out[one], out[other])


@pytest.mark.parametrize("kernel", BF16_KERNELS)
def test_fused_bf16_step_follows_manual_bf16(kernel):
    """The fused engine's bf16 step (one C++ call, layer by layer, the epoch) on each bf16 kernel against
    manual's written-out rounding: the same products in another order of summation, so within float32
    noise, far from float32."""
    from minitorch_clf import ops

    if kernel not in _bf16_kernels():
        pytest.skip(f"this CPU cannot run the bf16 kernel {kernel!r} (its refusal: the GEMM test above)")
    with ops.bf16_kernel(kernel):
        _fused_bf16_step_follows_manual_bf16()


@pytest.mark.parametrize("kernel", ["amx", "avx512bf16"])
@pytest.mark.parametrize("where", ["the rows' bound", "past L2"])
def test_the_bf16_step_pairs_a_layers_input_once_with_the_bits_of_packing_it_per_product(where, kernel):
    """On AMX and on vdpbf16ps the one-call step's forward pairs a layer's input as B for its dW where that pays
    (gemm.h's Bf16Pairs, pairs_pay: at least kPairsMinRows rows and more than 64 KiB); the layered ops pack it in
    each product. Same sums, same order: the losses and every parameter equal bit for bit, at odd batches that no
    tile divides (the pairs of the last row with a zero row): just past the rows' bound, where on one thread every
    layer's input is paired (fc3's, 257 x 64 floats, is just past 64 KiB; on two the layers after the first run cut
    by rows and pair nothing ahead: test_the_bf16_layers_cut_by_rows_give_the_same_bits), and past L2 (there a dW
    share starts in the middle of a panel of pairs on vdpbf16ps). Swapping the two rows of each pair makes both
    fail."""
    from minitorch_clf import ops

    if kernel not in _bf16_kernels():
        pytest.skip(f"this CPU cannot run the bf16 kernel {kernel!r}: it pairs nothing ahead")
    l2 = ops.gemm_blocking()["L2"]
    batch = 257 if where == "the rows' bound" else l2 // (784 * 4) + 37      # past L2: x (batch, 784) float32
    assert batch % 32 and batch % 2 and (where != "past L2" or batch * 784 * 4 > l2)
    torch.manual_seed(3)
    x, y = torch.randn(batch, 784), torch.randint(0, 10, (batch,))
    with ops.bf16_kernel(kernel):
        whole, layered = (build_engine("fused", lr=0.05, momentum=0.9, precision="bf16") for _ in range(2))
        layered.model.load_state_dict(whole.model.state_dict())
        layered.whole_step = False
        for _ in range(2):
            assert torch.equal(whole.step(x, y), layered.step(x, y))
    for p, q in zip(whole.model.parameters(), layered.model.parameters()):
        assert torch.equal(p, q)


def _fused_bf16_step_follows_manual_bf16():
    torch.manual_seed(0)
    x, y = torch.randn(64, 784), torch.randint(0, 10, (64,))
    manual, fused = build_engine("manual", lr=0.05, precision="bf16"), build_engine("fused", lr=0.05, precision="bf16")
    layered, plain = build_engine("fused", lr=0.05, precision="bf16"), build_engine("fused", lr=0.05)
    layered.whole_step = False
    for _ in range(4):
        lm, lf, ll, lp = (e.step(x, y) for e in (manual, fused, layered, plain))
        torch.testing.assert_close(lf, lm, rtol=1e-5, atol=1e-6)
        assert torch.equal(lf, ll)                           # the one call and the layers: the same kernels
    flat = lambda e: torch.cat([p.detach().reshape(-1) for p in e.model.parameters()])
    assert (flat(fused) - flat(manual)).abs().max() < 1e-5
    assert (flat(fused) - flat(plain)).abs().max() > 1e-4     # the bf16 step is not the float32 one
    epoch = build_engine("fused", lr=0.05, precision="bf16")
    order = torch.arange(128)
    xs, ys = torch.randn(128, 784, generator=torch.Generator().manual_seed(1)), torch.randint(0, 10, (128,))
    steps = build_engine("fused", lr=0.05, precision="bf16")
    assert torch.equal(epoch.train_epoch(xs, ys, order, 32), torch.stack([steps.step(xs[i:i + 32], ys[i:i + 32])
                                                                           for i in range(0, 128, 32)]))
    assert torch.ops.minitorch_clf.set_precision("float32") == "float32"
