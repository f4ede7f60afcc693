"""The float32 GEMM of kernels/cpu/gemm/gemm.h (op own_mm) against a float64 product of the same inputs.

The bound: a float32 sum of K products is within K·u·Σ|a||b| of the exact one (u = 2^-24, the unit
roundoff), element by element; |A|·|B| computed in float64 gives Σ|a||b|. A kernel that reads a wrong
element, misses an edge tile or adds a K block twice is off by O(|a||b|), far above the bound.
"""
import os
import random

import pytest
import torch

from minitorch_clf import functional as MF
from minitorch_clf import ops
from minitorch_clf.functional import TORCH_ACTIVATIONS

U = 2.0 ** -24
# Every ISA is a case everywhere; the ones this CPU cannot run are skipped with the reason.
_CAPABILITY = torch.backends.cpu.get_cpu_capability()
HAVE = {"avx512": _CAPABILITY == "AVX512", "avx2": _CAPABILITY in ("AVX2", "AVX512"), "scalar": True}
ISAS = [pytest.param(isa, marks=pytest.mark.skipif(not HAVE[isa], reason=f"this CPU cannot run {isa}"))
        for isa in ("avx512", "avx2", "scalar")]


def rand(*shape, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def layout(t, kind):
    """The same values as t (R, C) in another memory layout: 'row' (contiguous), 'col' (a transposed
    contiguous tensor), 'strided' (every other column of a wider tensor), 'offset' (a view that starts
    a row and two elements into its storage, rows padded by three)."""
    if kind == "row":
        return t.contiguous()
    if kind == "col":
        return t.T.contiguous().T
    if kind == "strided":
        wide = torch.zeros(t.shape[0], 2 * t.shape[1])
        wide[:, ::2] = t
        return wide[:, ::2]
    if kind == "offset":
        padded = torch.zeros(t.shape[0] + 1, t.shape[1] + 3)
        padded[1:, 2:2 + t.shape[1]] = t
        return padded[1:, 2:2 + t.shape[1]]
    raise ValueError(kind)


def assert_within_bound(c, a, b):
    a64, b64 = a.double(), b.double()
    exact = a64 @ b64
    bound = a.shape[1] * U * (a64.abs() @ b64.abs()) + 1e-30
    err = (c.double() - exact).abs()
    worst = (err / bound).max().item() if c.numel() else 0.0
    assert worst <= 1.0, f"error {worst:.2f}x the float32 bound, at {divmod((err / bound).argmax().item(), c.shape[1])}"


def _size_cases(count_per_dim=70, seed=0):
    """Every size 1..70 in each of M, N and K, the other two drawn at random from 1..70."""
    rng = random.Random(seed)
    cases = []
    for d in range(1, count_per_dim + 1):
        cases += [(d, rng.randint(1, 70), rng.randint(1, 70)), (rng.randint(1, 70), d, rng.randint(1, 70)),
                  (rng.randint(1, 70), rng.randint(1, 70), d)]
    return cases


LAYOUT_PAIRS = [("row", "row"), ("row", "col"), ("col", "row"), ("col", "col"), ("strided", "offset"),
                ("offset", "strided")]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("layouts", LAYOUT_PAIRS, ids="-".join)
def test_every_size_from_1_to_70(isa, layouts):
    """210 shapes per layout pair: x·Wᵀ is (row, col), dz·W (row, row), dzᵀ·x (col, row); the strided
    and offset pairs read A through odd strides and pack B from them."""
    for case, (m, n, k) in enumerate(_size_cases()):
        a, b = layout(rand(m, k, seed=case), layouts[0]), layout(rand(k, n, seed=1000 + case), layouts[1])
        c = ops.own_mm(a, b, isa)
        assert c.shape == (m, n)
        assert_within_bound(c, a, b)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("layouts", [("row", "col"), ("row", "row"), ("col", "row")], ids="-".join)
def test_long_k_and_tile_edges(isa, layouts):
    """K around and past 256 (x·Wᵀ with K >= 256 is the dot kernel's, on AVX-512 below 64 rows, with
    its 8- or 16-wide K tail) and across the outer kernel's K blocks (192 or 384 deep with a 48 KiB L1d:
    it adds them), with every row and column edge of both register tiles."""
    case = 0
    for k in (255, 256, 257, 530, 785):
        for m in range(1, 8):
            for n in range(1, 18):
                a, b = layout(rand(m, k, seed=case), layouts[0]), layout(rand(k, n, seed=500 + case), layouts[1])
                assert_within_bound(ops.own_mm(a, b, isa), a, b)
                case += 1


@pytest.mark.parametrize("isa", ISAS)
def test_transposed_b_packing_at_every_edge(isa):
    """x·Wᵀ from 64 rows on, where the outer kernel packs Wᵀ by register transposes (AVX-512: 16 x 16
    blocks, at every K; AVX2: 8 x 8, for K below 256): K below, at and past a multiple of 16 and the K
    block, N below, at and past one and two 16-wide vectors (AVX-512: N <= 16 takes the 8 x 16 tile, and
    a share may end on a half panel)."""
    case = 0
    for m in (64, 65):
        for k in (15, 16, 17, 191, 192, 193, 785):
            for n in (1, 10, 15, 16, 17, 31, 32, 33, 47, 80):
                a, w = rand(m, k, seed=case), rand(n, k, seed=700 + case)
                assert_within_bound(ops.own_mm(a, w.T, isa), a, w.T)
                case += 1


SIMPLENET = [(784, 128), (128, 64), (64, 10)]      # (in, out) of each layer


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("batch", [1, 7, 64, 65, 256, 1024])
def test_simplenet_products(isa, batch):
    """The eight products of a step in the layouts the fused ops pass: y = h·Wᵀ, dW = dzᵀ·h, dh = dz·W."""
    for layer, (i, o) in enumerate(SIMPLENET):
        h, w, dz = rand(batch, i, seed=layer), rand(o, i, seed=10 + layer), rand(batch, o, seed=20 + layer)
        for a, b in ((h, w.T), (dz.T, h), (dz, w)):
            assert_within_bound(ops.own_mm(a, b, isa), a, b)


def test_mlp_products_own_and_aten_agree():
    """The benchmark op runs the same eight products with either GEMM."""
    batch = 64
    acts = [rand(batch, i, seed=k) for k, (i, _) in enumerate(SIMPLENET)]
    weights = [rand(o, i, seed=10 + k) for k, (i, o) in enumerate(SIMPLENET)]
    dzs = [rand(batch, o, seed=20 + k) for k, (_, o) in enumerate(SIMPLENET)]
    own, aten = ops.mlp_products(acts, weights, dzs, "own"), ops.mlp_products(acts, weights, dzs, "aten")
    assert len(own) == len(aten) == 8
    pairs = ([(h, w.T) for h, w in zip(acts, weights)] + [(dz.T, h) for dz, h in zip(dzs, acts)]
             + [(dz, w) for dz, w in zip(dzs[1:], weights[1:])])
    for c_own, c_aten, (a, b) in zip(own, aten, pairs):
        assert_within_bound(c_own, a, b)
        assert_within_bound(c_aten, a, b)


@pytest.mark.parametrize("isa", ["auto", "avx2", "scalar"])
def test_the_direct_own_mm_gives_the_ops_bits(isa):
    """bench --gemm's per-product rows call own_mm and own_mm_plan without the dispatcher (ops.direct()), as
    torch.mm and numpy.matmul are called through their own bindings: the op's bits, and the op's message for
    operands that do not chain; the same for own_mm_plan on the derived plan."""
    if isa not in ("auto", *ops.cpu_isas()):
        pytest.skip(f"this CPU does not run {isa}")
    from minitorch_clf.ops import tune

    a, b = rand(37, 70, seed=1), rand(70, 45, seed=2).T.contiguous().T      # b read through its strides
    assert torch.equal(ops.direct().own_mm(a, b, isa), ops.own_mm(a, b, isa))
    plan = tune.derived_plan(tune.Shape.of(a, b)).ints()
    assert torch.equal(ops.direct().own_mm_plan(a, b, plan), torch.ops.minitorch_clf.own_mm_plan(a, b, plan))
    messages = []
    for call in (ops.own_mm, ops.direct().own_mm):
        with pytest.raises(RuntimeError) as info:
            call(a, b.T, isa)
        messages.append(str(info.value))
    assert messages[0] == messages[1] and messages[0].startswith("a, b: expected (M, K) and (K, N)"), messages


@pytest.mark.parametrize("gemm", ["own", "aten"])
def test_the_direct_mlp_products_gives_the_ops_bits(gemm):
    """bench --gemm's "all eight" row calls mlp_products' kernel without the dispatcher (ops.direct(): as the
    fused engine calls its step): the op's eight products, bit for bit, and the op's message for bad operands."""
    acts = [rand(33, i, seed=k) for k, (i, _) in enumerate(SIMPLENET)]
    weights = [rand(o, i, seed=10 + k) for k, (i, o) in enumerate(SIMPLENET)]
    dzs = [rand(33, o, seed=20 + k) for k, (_, o) in enumerate(SIMPLENET)]
    via_op, direct = ops.mlp_products(acts, weights, dzs, gemm), ops.direct().mlp_products(acts, weights, dzs, gemm)
    assert len(direct) == 8 and all(torch.equal(a, b) for a, b in zip(via_op, direct))
    messages = []
    for call in (ops.mlp_products, ops.direct().mlp_products):
        with pytest.raises(RuntimeError) as info:
            call(acts, weights, dzs[:2], gemm)
        messages.append(str(info.value))
    assert messages[0] == messages[1] and messages[0].startswith("acts, weights, dzs: expected one of each per layer")


@pytest.mark.parametrize("isa", ISAS)
def test_same_bits_for_any_thread_count(isa):
    """Each element is summed in one order whichever thread computes it."""
    shapes = [(64, 784, 128), (1024, 784, 128), (128, 64, 784), (65, 64, 128), (300, 10, 64), (7, 5, 3)]
    inputs = []
    for s, (m, k, n) in enumerate(shapes):
        x, w = rand(m, k, seed=s), rand(n, k, seed=50 + s)
        inputs += [(x, w.T), (rand(m, n, seed=90 + s).T, x), (x.T.contiguous(), rand(m, n, seed=70 + s))]
    before = torch.get_num_threads()
    try:
        runs = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            runs.append([ops.own_mm(a, b, isa) for a, b in inputs])
    finally:
        torch.set_num_threads(before)
    for one, two, three in zip(*runs):
        assert torch.equal(one, two) and torch.equal(one, three)


def test_empty_and_degenerate_shapes():
    assert ops.own_mm(torch.ones(0, 5), torch.ones(5, 3)).shape == (0, 3)
    assert torch.equal(ops.own_mm(torch.ones(4, 0), torch.ones(0, 3)), torch.zeros(4, 3))
    assert torch.equal(ops.own_mm(torch.full((1, 1), 3.0), torch.full((1, 1), 2.0)), torch.full((1, 1), 6.0))


@pytest.mark.parametrize("gemm", ["own", "aten"])
def test_epilogues_keep_torchs_nan_rules(gemm):
    """relu(NaN) = NaN in the forward; the backward's mask 1[out > 0] is 0 where out is NaN."""
    x, w, b = rand(5, 20, seed=1), rand(17, 20, seed=2), rand(17, seed=3)
    x[2, 3] = float("nan")
    with ops.gemm(gemm):
        out, _ = ops.linear_forward(x, w, b, "relu")
        assert torch.equal(out.isnan(), torch.relu(x @ w.T + b).isnan()) and out[2].isnan().all()
        dout = rand(5, 17, seed=4)
        dx, dw, db = ops.linear_backward(dout, x, w, out, "relu", True)
    dz = torch.where(out > 0, dout, 0.0)
    torch.testing.assert_close(db, dz.sum(0))
    torch.testing.assert_close(dx, dz @ w, rtol=1e-5, atol=1e-5)


def test_gemm_switch_and_its_errors(monkeypatch):
    previous = ops.set_gemm("aten")
    try:
        assert ops.set_gemm("own") == "aten"
        with ops.gemm("aten"):
            assert ops.set_gemm("aten") == "aten"
        assert ops.set_gemm(previous) == "own"
    finally:
        ops.set_gemm(previous)
    with pytest.raises(ValueError, match="expected one of auto, aten, own, got 'mkl'"):
        ops.set_gemm("mkl")
    with pytest.raises(RuntimeError, match="expected 'auto', 'avx512', 'avx2' or 'scalar', got 'sse'"):
        ops.own_mm(torch.ones(2, 2), torch.ones(2, 2), "sse")
    with pytest.raises(RuntimeError, match=r"expected \(M, K\) and \(K, N\)"):
        ops.own_mm(torch.ones(2, 3), torch.ones(2, 3))
    with pytest.raises(RuntimeError, match="expected float32"):
        ops.own_mm(torch.ones(2, 2, dtype=torch.float64), torch.ones(2, 2, dtype=torch.float64))


def test_env_var_names_the_bad_value(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "MINITORCH_CLF_GEMM": "blas"}
    run = subprocess.run([sys.executable, "-c", "from minitorch_clf import ops; ops.load()"], env=env,
                         capture_output=True, text=True)
    assert run.returncode != 0 and "MINITORCH_CLF_GEMM: expected one of auto, aten, own, got 'blas'" in run.stderr


@pytest.mark.parametrize("text", ["garbage", "0,0", "-1,-1", "1,1", "64,32", "48", "48,2048,9", ""])
def test_cache_override_refuses_what_the_blocking_cannot_use(text):
    with pytest.raises(ValueError, match=f"MINITORCH_CLF_CACHE_KB: expected 'L1d,L2' in KiB.*got {text!r}"):
        ops._check_cache_kb(text)
    ops._check_cache_kb("2,16")                                    # the tiny-cache test's value passes
    ops._check_cache_kb("48,2048")


def test_a_bad_cache_override_stops_the_first_load():
    import os
    import subprocess
    import sys

    env = {**os.environ, "MINITORCH_CLF_CACHE_KB": "0,0"}
    run = subprocess.run([sys.executable, "-c", "from minitorch_clf import ops; ops.load()"], env=env,
                         capture_output=True, text=True)
    assert run.returncode != 0 and "MINITORCH_CLF_CACHE_KB: expected 'L1d,L2' in KiB" in run.stderr


@pytest.mark.parametrize("isa,lanes", [("avx512", 16), ("avx2", 8)])
def test_measured_peak_is_plausible(isa, lanes):
    """fma_peak_gflops, the denominator of the benchmarks' % of peak: `lanes`-wide FMAs on one or two
    pipes give 2..4 x lanes flops per cycle per core; between 0.5 and 6 GHz, per core, that bounds it."""
    if not HAVE[isa]:
        pytest.skip(f"this CPU cannot run {isa}")
    from minitorch_clf.tools import probes

    one = probes.fma_peak_gflops(1, isa)
    assert lanes <= one <= 4 * lanes * 6


def test_the_bf16_peak_is_plausible_or_refused():
    """'avx512bf16': a vdpbf16ps is 64 flops (16 lanes, two products each); one every other cycle to two a
    cycle, between 0.5 and 6 GHz, per core, bounds it. (How it compares with the FMA peak is the CPU's
    own: twice it on Zen 4, measured; not asserted.)"""
    from minitorch_clf.tools import probes

    if "avx512bf16" not in ops.bf16_kernels():
        with pytest.raises(RuntimeError, match="isa='avx512bf16': this CPU has no AVX512-BF16"):
            probes.fma_peak_gflops(1, "avx512bf16")
        return
    one = probes.fma_peak_gflops(1, "avx512bf16")
    assert 64 / 2 * 0.5 <= one <= 2 * 64 * 6, one


def test_the_amx_peak_is_plausible_or_refused():
    """'amx': a tdpbf16ps is 16 x 16 x 32 products, 16 384 flops; Intel's tiles issue one every 16 cycles
    (1 024 flops a cycle); between one every 64 and one every 8 cycles, 0.5 to 6 GHz, bounds it."""
    from minitorch_clf.tools import probes

    if "amx" not in ops.bf16_kernels():
        with pytest.raises(RuntimeError, match="isa='amx': this CPU \\(or system\\) runs no AMX-BF16 tiles"):
            probes.fma_peak_gflops(1, "amx")
        return
    one = probes.fma_peak_gflops(1, "amx")
    assert 16384 / 64 * 0.5 <= one <= 16384 / 8 * 6, one


def test_the_gemm_defaults_to_the_widest_isa_or_the_one_named():
    """'auto' is the widest ISA this CPU runs, or the one MINITORCH_CLF_ISA names (the suite runs under
    each: the test held 'auto' to the widest and failed under MINITORCH_CLF_ISA=avx2)."""
    import os

    named = os.environ.get("MINITORCH_CLF_ISA", "auto")
    default = ops.cpu_isas()[0] if named == "auto" else named
    assert ops.cpu_isas() == [i for i in ("avx512", "avx2", "scalar") if HAVE[i]]
    a, b = rand(37, 300), rand(300, 45, seed=1)
    assert torch.equal(ops.own_mm(a, b), ops.own_mm(a, b, default))
    with ops.isa("scalar"):                                  # the switch moves what 'auto' means ...
        assert torch.equal(ops.own_mm(a, b), ops.own_mm(a, b, "scalar"))
    assert torch.equal(ops.own_mm(a, b), ops.own_mm(a, b, default))   # ... and the context restores it


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("batch", [64, 300])
def test_fused_ops_run_on_every_isa(isa, batch):
    """The fused layer's products through each ISA: within the float32 bound of the float64 result.
    x·Wᵀ takes the dot kernel at batch 64 and, with AVX-512, the outer kernel (Wᵀ packed) at 300."""
    x, w, b = rand(batch, 784), rand(128, 784, seed=1), rand(128, seed=2)
    with ops.gemm("own"), ops.isa(isa):
        out, _ = ops.linear_forward(x, w, b, "identity")
    assert_within_bound(out - b, x, w.T)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("act", MF.ACTIVATIONS)
@pytest.mark.parametrize("n,i,o", [(13, 37, 45), (64, 784, 128), (3, 64, 10)])
def test_epilogue_activations_on_every_isa(isa, act, n, i, o):
    """The forward's bias + activation (in the epilogue's registers for identity, ReLU and leaky ReLU,
    edge tiles included; ATen's pass over the product for the others) against torch's activation of the
    float64 product: the product within the float32 bound, each activation's slope at most 1.13 and
    its own float32 rounding on top; GELU's kept pre-activation within the bound itself."""
    x, w, b = rand(n, i, seed=1), rand(o, i, seed=2), rand(o, seed=3)
    with ops.gemm("own"), ops.isa(isa):
        out, saved = ops.linear_forward(x, w, b, act)
    z64 = x.double() @ w.double().T + b.double()
    bound = i * U * (x.double().abs() @ w.double().abs().T) + 1e-30
    ref = TORCH_ACTIVATIONS[act]()(z64)
    err = (out.double() - ref).abs()
    assert (err <= 1.13 * bound + 4 * U * (1 + ref.abs())).all(), err.max()
    if act in MF.BACKWARD_READS_INPUT:
        assert ((saved.double() - z64).abs() <= bound + 2 * U * z64.abs()).all()


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("act", MF.ACTIVATIONS)
def test_backprop_through_epilogue_on_every_isa(isa, act):
    """The whole-step op brings dx back through the layer below's activation in the dx product's
    epilogue (ATen's backward pass after it for tanh, sigmoid, GELU); the layered step does it in the
    bias-gradient pass. Same bits on each ISA."""
    from minitorch_clf.engines import build_engine

    layered, whole = (build_engine("fused", lr=0.05, momentum=0.9, seed=4, activation=act) for _ in range(2))
    layered.whole_step = False
    g = torch.Generator().manual_seed(0)
    with ops.gemm("own"), ops.isa(isa):
        for step in range(3):
            x, y = torch.randn(21, 784, generator=g), torch.randint(0, 10, (21,), generator=g)
            assert torch.equal(whole.step(x, y), layered.step(x, y)), step
    for p, q in zip(whole.model.parameters(), layered.model.parameters()):
        assert torch.equal(p, q)


def test_isa_switch_refuses_names_and_missing_instructions():
    with pytest.raises(ValueError, match="name: expected one of auto, avx512, avx2, scalar, got 'sse'"):
        ops.set_isa("sse")
    missing = [i for i in ("avx512", "avx2") if not HAVE[i]]
    for isa in missing:                                       # empty on a CPU that has both
        with pytest.raises(ValueError, match="cannot run"):
            ops.set_isa(isa)
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", "from minitorch_clf import ops; ops.load()"],
                         env={**os.environ, "MINITORCH_CLF_ISA": "neon"}, capture_output=True, text=True)
    assert run.returncode != 0 and "MINITORCH_CLF_ISA: expected one of auto, avx512, avx2, scalar, got 'neon'" in run.stderr


def test_auto_takes_own_for_thin_products_and_aten_for_large_ones():
    """auto = own where some size is <= 128 (every product of SimpleNet's step), else ATen's: the
    bits tell which GEMM ran (two summation orders almost never agree on every element)."""
    def forward(n, i, o, gemm):
        with ops.gemm(gemm):
            return ops.linear_forward(rand(n, i, seed=1), rand(o, i, seed=2), rand(o, seed=3), "relu")[0]

    # thin: x·Wᵀ through the dot kernel (lane-wise partial sums): the outer kernel's k-ordered sums
    # happen to give MKL's bits at 64 x 784 x 128, so the bits would not tell the two apart there.
    thin, large = (32, 784, 128), (200, 300, 250)
    assert not torch.equal(forward(*thin, "own"), forward(*thin, "aten"))
    assert not torch.equal(forward(*large, "own"), forward(*large, "aten"))
    expected = "own" if HAVE["avx2"] else "aten"
    assert torch.equal(forward(*thin, "auto"), forward(*thin, expected))
    assert torch.equal(forward(*large, "auto"), forward(*large, "aten"))


def _on_every_isa(run):
    """run() once per ISA this CPU runs, the GEMM's switch set to it; [(isa, what run returned)]."""
    out = []
    for isa in ops.cpu_isas():
        with ops.isa(isa):
            out.append((isa, run()))
    return out


def _assert_same_bits(results):
    (_, first), rest = results[0], results[1:]
    for isa, tensors in rest:
        for a, b in zip(tensors, first):
            assert torch.equal(a, b), isa


@pytest.mark.parametrize("act", MF.ACTIVATIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_linear_loops_give_the_same_bits_on_every_isa(act, dtype):
    """The element loops of the linear ops (bias + activation after an ATen product, the bias gradient
    with act') are compiled for the GEMM's ISA (kernels/cpu/on_isa.h): every ISA this CPU runs gives
    the same bits. ATen's products, so that only the loops change with the ISA."""
    x, w, b, dout = rand(37, 50, seed=1), rand(30, 50, seed=2), rand(30, seed=3), rand(37, 30, seed=4)
    x, w, b, dout = (t.to(dtype) for t in (x, w, b, dout))

    def run():
        out, saved = ops.linear_forward(x, w, b, act)
        return [out, *ops.linear_backward(dout, x, w, saved, act, True)]

    with ops.gemm("aten"):
        _assert_same_bits(_on_every_isa(run))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_optimizer_updates_give_the_same_bits_on_every_isa(dtype):
    shapes = [(128, 784), (128,), (10, 64), (7,)]
    fresh = lambda seed: [rand(*s, seed=seed + k).to(dtype) for k, s in enumerate(shapes)]

    def run():
        p, g, buf = fresh(0), fresh(10), fresh(20)
        torch.ops.minitorch_clf.sgd_update_(p, g, buf, 0.1, 0.9, 0.1, 0.01, True, False, False)
        q, m, v, vmax = fresh(30), fresh(40), [t.abs() for t in fresh(50)], [t.abs() for t in fresh(60)]
        torch.ops.minitorch_clf.adam_update_(q, g, m, v, vmax, [0.01] * 4, [0.3] * 4, 1e-3, 0.9, 0.999, 1e-8, 0.01,
                                             True, True, False)
        return p + buf + q + m + v + vmax

    _assert_same_bits(_on_every_isa(run))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("act", ["relu", "leaky_relu", "identity", "gelu"])
def test_fused_steps_give_the_same_bits_on_every_isa(optimizer, act):
    """The whole fused step (SGD: the one-call step, whose dx comes back through act' in the aten
    product's pass; Adam: the layered step), float64, ATen's products: the same bits on every ISA.
    (float32 would not be: its cross-entropy has an AVX-512 path of its own, tests/test_cross_entropy_isa.py.)"""
    from minitorch_clf.engines import build_engine

    def run():
        eng = build_engine("fused", optimizer=optimizer, lr=0.05, seed=4, dtype=torch.float64, activation=act)
        g = torch.Generator().manual_seed(0)
        losses = [eng.step(torch.randn(37, 784, generator=g, dtype=torch.float64),
                           torch.randint(0, 10, (37,), generator=g)) for _ in range(3)]
        return losses + [p.detach().clone() for p in eng.model.parameters()]

    with ops.gemm("aten"):
        _assert_same_bits(_on_every_isa(run))


def test_blocking_follows_the_caches():
    """The outer kernel's blocks come from the caches the kernel reports (sysfs, as machine.py reads
    them): a packed B panel fills at most half of L1d (8 more k would not fit), a packed A block at
    most half of L2, in whole register tiles."""
    from minitorch_clf.tools.machine import cache_sizes

    seen = cache_sizes()
    for isa, (mr, nr) in (("avx512", (8, 32)), ("avx2", (6, 16))):
        if not HAVE[isa]:
            continue
        b = ops.gemm_blocking(isa)
        for level in ("L1d", "L2"):
            if level in seen:
                assert b[level] == seen[level]
        assert b["k_block"] * nr * 4 <= b["L1d"] // 2 < (b["k_block"] + 8) * nr * 4
        assert b["row_block"] % mr == 0 and b["row_block"] * b["k_block"] * 4 <= b["L2"] // 2
    assert ops.gemm_blocking("scalar")["k_block"] == 0


def test_small_caches_block_every_loop_and_stay_within_the_bound():
    """MINITORCH_CLF_CACHE_KB=2,16 shrinks the blocks (k_block 16, a few tiles of rows): every K block,
    row block and dot-kernel row block boundary is crossed by these shapes, on every ISA."""
    import subprocess
    import sys

    script = """if True:
        import torch
        from minitorch_clf import ops
        assert ops.gemm_blocking()["L1d"] == 2048, ops.gemm_blocking()
        worst = 0.0
        for isa in ops.cpu_isas():
            for m, k, n in ((300, 200, 70), (64, 784, 128), (129, 1000, 33)):
                g = torch.Generator().manual_seed(m)
                a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
                for bb in (b, b.T.contiguous().T):                      # outer kernel, and dot where k allows
                    c = ops.own_mm(a, bb, isa).double()
                    exact = a.double() @ b.double()
                    bound = k * 2.0 ** -24 * (a.double().abs() @ b.double().abs())
                    worst = max(worst, ((c - exact).abs() / bound).max().item())
        print(worst)
        """
    run = subprocess.run([sys.executable, "-c", script], env={**os.environ, "MINITORCH_CLF_CACHE_KB": "2,16"},
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert float(run.stdout.strip().splitlines()[-1]) <= 1.0
