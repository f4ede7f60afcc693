"""The fused cross-entropy's AVX-512 path (float32 rows of up to 16 classes, sixteen rows at a time with a
class to a register, a polynomial exp) against torch in float64 and against the scalar path, on every
ISA this CPU runs; the ISA switch (ops.isa) chooses the path, as it does the GEMM's."""
import pytest
import torch
import torch.nn.functional as F

from minitorch_clf import ops

pytestmark = pytest.mark.kernels

CASES = [(64, 10, 1.0), (1024, 10, 5.0), (4099, 10, 30.0), (33, 16, 80.0), (100, 3, 200.0), (5, 16, 1e-3),
         (9, 17, 3.0), (16, 2, 0.5), (7, 1, 1.0)]   # 17 classes: past one register, the scalar path


def _isas():
    ops.load()
    return [isa for isa in ("avx512", "avx2", "scalar") if isa in ops.cpu_isas()]


@pytest.mark.parametrize("n,c,scale", CASES)
def test_every_isa_matches_torch(n, c, scale):
    g = torch.Generator().manual_seed(n * c)
    z = torch.randn(n, c, generator=g) * scale
    y = torch.randint(0, c, (n,), generator=g)
    zr = z.double().requires_grad_()
    ref = F.cross_entropy(zr, y)
    ref.backward()
    results = {}
    for isa in _isas():
        with ops.isa(isa):
            loss, dz = ops.cross_entropy_forward_backward(z, y)
        torch.testing.assert_close(loss.double(), ref.detach(), rtol=1e-6, atol=0, msg=isa)
        # float32 outputs: within a few float32 ulps of the largest gradient entry
        torch.testing.assert_close(dz.double(), zr.grad, rtol=0, atol=4e-7 * zr.grad.abs().max().item(), msg=isa)
        results[isa] = (loss, dz)
    if "avx512" in results:                     # the two paths agree to float32 rounding, not bit for bit
        torch.testing.assert_close(results["avx512"][1], results["scalar"][1], rtol=0,
                                   atol=4e-7 * results["scalar"][1].abs().max().item())


def test_avx512_path_is_deterministic_and_refuses_bad_targets():
    if "avx512" not in _isas():
        pytest.skip("this CPU has no AVX-512F")
    z, y = torch.randn(3000, 10), torch.randint(0, 10, (3000,))
    with ops.isa("avx512"):
        a = ops.cross_entropy_forward_backward(z, y)
        b = ops.cross_entropy_forward_backward(z, y)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        y[7] = 10
        with pytest.raises(ValueError, match="target: class index 10 at position 7"):
            ops.cross_entropy_forward_backward(z, y)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("c", [2, 10, 16, 17])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_nan_or_inf_logit_makes_its_row_and_the_loss_nan_on_every_isa(dtype, c, bad):
    """As torch: a NaN (or +inf) logit anywhere in a row, target or not, makes the loss NaN and that row's
    gradient NaN; the other rows stay finite. The AVX-512 path's clamps once turned NaN into -87.3."""
    g = torch.Generator().manual_seed(c)
    z = torch.randn(40, c, generator=g, dtype=dtype)
    y = torch.randint(0, c, (40,), generator=g)
    z[7, (y[7] + 1) % c] = bad                   # not the target's logit
    z[30, y[30]] = bad                           # the target's logit
    ref = F.cross_entropy(z, y)
    assert ref.isnan()
    for isa in _isas():
        with ops.isa(isa):
            loss, dz = ops.cross_entropy_forward_backward(z, y)
        assert loss.isnan(), (isa, loss)
        assert dz[[7, 30]].isnan().all(), isa
        rows = [n for n in range(40) if n not in (7, 30)]
        assert dz[rows].isfinite().all(), isa


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("c,ignore_index", [(10, -100), (17, -100), (10, 3), (16, -1)])
def test_ignore_index_as_torch_on_every_isa(dtype, c, ignore_index):
    """Rows whose target is ignore_index count for nothing: the mean runs over the others, their gradient
    is 0; with every row ignored the loss is NaN and the gradient 0 (torch's definitions)."""
    g = torch.Generator().manual_seed(c)
    z = torch.randn(50, c, generator=g, dtype=dtype) * 3
    y = torch.randint(0, c, (50,), generator=g)
    y[::4] = ignore_index
    every = torch.full((50,), ignore_index)
    for isa in _isas():
        for target in (y, every):
            zr = z.double().clone().requires_grad_()          # a copy: z itself is float64 in one case
            ref = F.cross_entropy(zr, target, ignore_index=ignore_index)
            ref.backward()
            with ops.isa(isa):
                loss, dz = ops.cross_entropy_forward_backward(z, target, ignore_index)
            torch.testing.assert_close(loss.double(), ref.detach(), equal_nan=True, msg=isa)
            torch.testing.assert_close(dz.double(), zr.grad, rtol=1e-6, atol=1e-7, msg=isa)
        assert torch.equal(dz, torch.zeros_like(dz))
    with pytest.raises(ValueError, match=r"target: class index -100 at position 0 is outside \[0, 10\) and is "
                                         r"not ignore_index \(-1\)"):
        ops.cross_entropy_forward_backward(z[:, :10], torch.full((50,), -100), -1)


@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_the_op_gradient_with_ignored_rows_against_finite_differences(ignore_index):
    """The fused op's dlogits (through its registered autograd) against float64 central differences of its
    loss, with ignored rows among the others: the mean over the rows that count, zero for the ignored."""
    g = torch.Generator().manual_seed(5)
    z = (torch.randn(7, 5, generator=g, dtype=torch.float64) * 2).requires_grad_()
    y = torch.randint(0, 5, (7,), generator=g)
    y[[1, 4]] = ignore_index
    assert torch.autograd.gradcheck(lambda z: ops.cross_entropy_forward_backward(z, y, ignore_index)[0], (z,))
