"""kernels/cuda: built everywhere nvcc is (CI has no GPU), tested where a GPU is.

The GPU tests compare with a float64 CPU reference on random shapes (sizes that are not multiples
of the 16-wide tiles, batch 1, 100,000 rows), poison the memory the outputs will be carved from
with NaN first (an element a kernel forgets to write then fails), run opcheck on CUDA, compile the
fused step with mode="reduce-overhead", and check that two runs give identical bits.
"""
import pytest
import torch
import torch.nn.functional as F

from minitorch_clf import functional as MF
from minitorch_clf import ops
from child import outcome_of_script
from fused_step import two_layer_step

why_no_cuda_build = ops.cuda_unbuildable()
needs_nvcc = pytest.mark.skipif(why_no_cuda_build is not None, reason=f"CUDA kernels not built: {why_no_cuda_build}")
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@needs_nvcc
def test_cuda_kernels_build_and_register(capsys):
    from minitorch_clf.cli import main

    assert main(["build", "--cuda"]) == 0
    out = capsys.readouterr().out
    kernels = ops.registered_kernels()
    assert all("CUDA" in kernels[op] for op in ops.CUDA_OPS), kernels
    assert "cuda kernels:" in out


@needs_nvcc
def test_the_cuda_products_precision_is_a_process_setting_that_names_a_bad_value():
    """ops.set_cuda_precision (the CUDA library's, read by its fused products): returns the previous setting,
    `ops.precision(name, "cuda")` restores it, and a format it does not run is one line naming the argument
    (from the Python side and from the op itself)."""
    assert ops.set_cuda_precision("bf16") == "float32"
    with ops.precision("tf32", "cuda"):
        assert ops.set_cuda_precision("tf32") == "tf32"
    assert ops.set_cuda_precision("float32") == "bf16"
    with pytest.raises(ValueError, match="precision: expected one of float32, tf32, bf16, got 'fp16'"):
        ops.set_cuda_precision("fp16")
    with pytest.raises(RuntimeError, match="precision: expected 'float32', 'tf32' or 'bf16', got 'fp16'"):
        torch.ops.minitorch_clf.set_cuda_precision("fp16")
    assert ops.set_cuda_precision("float32") == "float32"


def poison():
    """Fill a large block of the caching allocator with NaN and free it: the next outputs reuse it."""
    junk = torch.full((64 << 20,), float("nan"), device="cuda")
    del junk


def rand(*shape, dtype=torch.float32, seed=0):
    return torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)).to(dtype)


def assert_matches(gpu, ref64, dtype):
    """float64: element-wise 1e-10. float32 against the float64 reference: max error over the tensor's
    largest magnitude below 1e-5 - a float32 sum of 100,000 products is off by ~1e-7 of the largest
    terms, which element-wise relative error turns into noise wherever terms cancel."""
    assert torch.isfinite(gpu).all(), "unwritten (NaN) or non-finite elements"
    got = gpu.cpu().double()
    assert got.shape == ref64.shape
    if dtype == torch.float64:
        torch.testing.assert_close(got, ref64, rtol=1e-10, atol=1e-12)
    else:
        scale = ref64.abs().max().clamp_min(1e-30)
        assert ((got - ref64).abs().max() / scale).item() < 1e-5


SHAPES = [(1, 784, 128), (17, 33, 5), (64, 128, 64), (100_000, 64, 10), (257, 31, 129)]


@needs_gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n,i,o", SHAPES)
@pytest.mark.parametrize("act", ["relu", "identity"])
def test_linear_forward_versions(dtype, n, i, o, act):
    ops.load_cuda()
    x, w, b = rand(n, i, dtype=dtype, seed=1), rand(o, i, dtype=dtype, seed=2), rand(o, dtype=dtype, seed=3)
    ref = F.linear(x.double(), w.double(), b.double())
    ref = ref.clamp_min(0) if act == "relu" else ref
    for v in ops.linear_versions(dtype):
        poison()
        out, _ = torch.ops.minitorch_clf.linear_forward_v(x.cuda(), w.cuda(), b.cuda(), act, v)
        assert_matches(out, ref, dtype)
    poison()
    assert_matches(ops.linear_forward(x.cuda(), w.cuda(), b.cuda(), act)[0], ref, dtype)


@needs_gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("act", MF.ACTIVATIONS)
def test_every_activation_on_both_versions(dtype, act):
    """Forward (v1's epilogue; v2's epilogue or its extra kernel), the kept z for GELU, and the backward
    through act', against functional.py in float64."""
    ops.load_cuda()
    x, w, b, dout = (rand(*s, dtype=dtype, seed=k) for k, s in enumerate(((257, 31), (129, 31), (129,), (257, 129))))
    z64, cache = MF.linear_forward(x.double(), w.double(), b.double())
    forward, backward = MF.ACTIVATIONS[act]
    ref, act_cache = forward(z64)
    dx_ref, dw_ref, db_ref = MF.linear_backward(backward(dout.double(), act_cache), cache)
    for v in ops.linear_versions(dtype):
        poison()
        out, pre = torch.ops.minitorch_clf.linear_forward_v(x.cuda(), w.cuda(), b.cuda(), act, v)
        assert_matches(out, ref, dtype)
        assert pre.numel() == (out.numel() if act in MF.BACKWARD_READS_INPUT else 0)
    out, saved = ops.linear_forward(x.cuda(), w.cuda(), b.cuda(), act)
    dx, dw, db = ops.linear_backward(dout.cuda(), x.cuda(), w.cuda(), saved, act, True)
    for got, want in ((dx, dx_ref), (dw, dw_ref), (db, db_ref)):
        assert_matches(got, want, dtype)


@needs_gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n,i,o", SHAPES)
def test_linear_backward(dtype, n, i, o):
    ops.load_cuda()
    x, w = rand(n, i, dtype=dtype, seed=4), rand(o, i, dtype=dtype, seed=5)
    out, dout = rand(n, o, dtype=dtype, seed=6).clamp_min(0), rand(n, o, dtype=dtype, seed=7)
    dz = dout.double() * (out.double() > 0)
    poison()
    dx, dw, db = ops.linear_backward(dout.cuda(), x.cuda(), w.cuda(), out.cuda(), "relu", True)
    assert_matches(dx, dz @ w.double(), dtype)
    assert_matches(dw, dz.T @ x.double(), dtype)
    assert_matches(db, dz.sum(0), dtype)


@needs_gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n,c", [(1, 10), (64, 10), (100_000, 10), (33, 70), (4096, 10), (4097, 33)])
def test_cross_entropy(dtype, n, c):
    ops.load_cuda()
    z = rand(n, c, dtype=dtype, seed=8) * 4
    y = torch.randint(0, c, (n,), generator=torch.Generator().manual_seed(9))
    zr = z.double().requires_grad_()
    ref = F.cross_entropy(zr, y)
    ref.backward()
    poison()
    loss, dz = ops.cross_entropy_forward_backward(z.cuda(), y.cuda())
    assert_matches(loss, ref.detach(), dtype)
    assert_matches(dz, zr.grad, dtype)


@needs_gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [8, 4096, 5000])       # one launch; and count, rows, mean
def test_cross_entropy_ignore_index_and_nan_as_torch(dtype, n):
    """The CPU kernel's contract on the GPU: rows with target -100 count for nothing (all ignored: loss NaN,
    gradient 0), and a NaN logit makes its row and the loss NaN."""
    ops.load_cuda()
    z = rand(n, 10, dtype=dtype, seed=n) * 3
    y = torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(n))
    y[::3] = -100
    for target in (y, torch.full((n,), -100)):
        zr = z.double().clone().requires_grad_()
        ref = F.cross_entropy(zr, target)
        ref.backward()
        poison()
        loss, dz = ops.cross_entropy_forward_backward(z.cuda(), target.cuda())
        torch.testing.assert_close(loss.cpu().double(), ref.detach(), equal_nan=True)
        assert_matches(dz, zr.grad, dtype)
    z[1, 4] = float("nan")
    loss, dz = ops.cross_entropy_forward_backward(z.cuda(), y.cuda())
    assert loss.isnan().item() and dz[1].isnan().all().item() and dz[2].isfinite().all().item()


@needs_gpu
def test_bad_target_is_a_python_exception_not_a_device_assert():
    # in a fresh process: a crash there (or a device-side assert) fails this test, not the run
    result = outcome_of_script("""if True:
        import torch
        from minitorch_clf import ops
        ops.load_cuda()
        results = []
        for n in (8, 5000):                  # one launch, and rows + mean
            z, y = torch.randn(n, 10, device="cuda"), torch.arange(n, device="cuda") % 10
            y[3] = 10
            try:
                ops.cross_entropy_forward_backward(z, y)
                results.append("returned")
            except RuntimeError as e:
                ok = torch.isfinite(ops.cross_entropy_forward_backward(z, y % 10)[0]).item()   # the context survived
                results.append(f"RuntimeError: {e} | context ok: {ok}")
        print(" || ".join(results))
        """)
    parts = result.split(" || ")
    assert len(parts) == 2, result
    for part in parts:
        assert part.startswith("RuntimeError: target: class index 10 at position 3"), result
        assert part.endswith("context ok: True"), result


@needs_gpu
@pytest.mark.parametrize("name,kw", [("SGD", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
                                     ("SGD", {}), ("Adam", {"amsgrad": True}), ("AdamW", {"maximize": True})])
def test_fused_optimizer_on_cuda_matches_torch(name, kw):
    from minitorch_clf import optim as ours

    g = torch.Generator().manual_seed(0)
    shapes = [(128, 784), (128,), (10, 64), (10,)] + [(3,)] * 40               # > one launch's 36 tensors
    ref = [torch.randn(s, generator=g, dtype=torch.float64) for s in shapes]
    mine = [p.clone().cuda() for p in ref]
    opt_ref = getattr(torch.optim, name)(ref, lr=0.01, **kw)
    opt = getattr(ours, name)(mine, lr=0.01, fused=True, **kw)
    for _ in range(20):
        for p, q in zip(ref, mine):
            p.grad = torch.randn(p.shape, generator=g, dtype=torch.float64)
            q.grad = p.grad.cuda()
        opt_ref.step()
        opt.step()
    for p, q in zip(ref, mine):
        torch.testing.assert_close(q.cpu(), p, rtol=1e-10, atol=1e-12)


@needs_gpu
def test_opcheck_on_cuda():
    ops.load_cuda()
    x, w, b = (rand(*s, seed=k).cuda().requires_grad_() for k, s in enumerate(((6, 5), (4, 5), (4,))))
    _, saved = ops.linear_forward(x.detach(), w.detach(), b.detach(), "gelu")
    p, gr, m = ([rand(5, seed=s).cuda()] for s in (1, 2, 3))
    cases = [
        (torch.ops.minitorch_clf.linear_forward.default, (x, w, b, "relu")),
        (torch.ops.minitorch_clf.linear_forward.default, (x, w, b, "gelu")),
        (torch.ops.minitorch_clf.linear_forward_v.default, (x.detach(), w.detach(), b.detach(), "relu", 1)),
        (torch.ops.minitorch_clf.linear_backward.default,
         (rand(6, 4, seed=9).cuda(), x.detach(), w.detach(), saved, "gelu", True)),
        (torch.ops.minitorch_clf.cross_entropy_forward_backward.default,
         (rand(6, 4, seed=5).cuda().requires_grad_(), torch.tensor([0, 1, 2, 3, 0, 1], device="cuda"))),
        (torch.ops.minitorch_clf.sgd_update_.default, (p, gr, m, 0.1, 0.9, 0.0, 0.0, False, False, False)),
    ]
    for op, args in cases:
        torch.library.opcheck(op, args)


@needs_gpu
def test_deterministic_bits():
    ops.load_cuda()
    dout, x, w = rand(100_000, 64, seed=1).cuda(), rand(100_000, 32, seed=2).cuda(), rand(64, 32, seed=3).cuda()
    out = dout.clamp_min(0)
    first = ops.linear_backward(dout, x, w, out, "relu", True)[2]
    z, y = rand(100_000, 10, seed=4).cuda(), torch.randint(0, 10, (100_000,), device="cuda")
    loss = ops.cross_entropy_forward_backward(z, y)[0]
    for _ in range(3):
        assert torch.equal(ops.linear_backward(dout, x, w, out, "relu", True)[2], first)
        assert torch.equal(ops.cross_entropy_forward_backward(z, y)[0], loss)


@needs_gpu
def test_fused_engine_on_cuda_follows_reference_with_graphs():
    from minitorch_clf.engines import build_engine

    ref, fused = (build_engine(n, optimizer="sgd", lr=0.01, momentum=0.9, device="cuda") for n in ("reference", "fused"))
    assert fused.whole_step
    g = torch.Generator().manual_seed(0)
    for step in range(12):
        n = 64 if step != 9 else 32                  # one batch of another shape runs eagerly
        x, y = torch.randn(n, 784, generator=g).cuda(), torch.randint(0, 10, (n,), generator=g).cuda()
        a, b = ref.step(x, y), fused.step(x, y)
        assert abs(b.item() - a.item()) <= 1e-5 * abs(a.item()), step
    assert [shape for shape, _ in fused.graphs] == [(64, 784)]   # the 32-row batch was seen once: not captured


@needs_gpu
def test_compile_reduce_overhead_of_the_fused_step():
    ops.load_cuda()
    w1, b1, w2, b2 = (rand(*s, seed=k).cuda() for k, s in enumerate(((32, 20), (32,), (10, 32), (10,))))

    def step(x, y):
        return two_layer_step(x, w1, b1, w2, b2, y)

    compiled = torch.compile(step, fullgraph=True, mode="reduce-overhead")
    x, y = rand(16, 20, seed=9).cuda(), torch.randint(0, 10, (16,), device="cuda")
    for _ in range(3):
        got = [t.clone() for t in compiled(x, y)]
    for a, r in zip(got, step(x, y)):
        torch.testing.assert_close(a, r)


@needs_gpu
def test_gradcheck_on_cuda():
    """Finite differences (float64, on the GPU) against the CUDA backward through register_autograd."""
    ops.load_cuda()
    x, w, b = (rand(*s, dtype=torch.float64, seed=k).cuda().requires_grad_() for k, s in
               enumerate(((5, 7), (3, 7), (3,))))
    for act in MF.ACTIVATIONS:
        assert torch.autograd.gradcheck(lambda x, w, b: ops.linear_forward(x, w, b, act)[0], (x, w, b))
    z = rand(6, 4, dtype=torch.float64, seed=9).cuda().requires_grad_()
    y = torch.tensor([0, 3, 1, 1, 2, 0], device="cuda")
    assert torch.autograd.gradcheck(lambda z: ops.cross_entropy_forward_backward(z, y)[0], (z,))


@needs_gpu
def test_epoch_graph_trains_like_eager_steps():
    """One CUDA graph per epoch (gather, every step, the losses) against the same kernels run eagerly,
    layer by layer; the learning rate changes before the last epoch, so a stale graph would show."""
    from minitorch_clf import data as D
    from minitorch_clf.engines import build_engine

    loader = D.TensorLoader(D.synthetic_mnist(1000), 64, device="cuda", seed=1)     # 15 batches of 64, one of 40
    eager, graphed = (build_engine("fused", device="cuda", seed=4) for _ in range(2))
    eager.whole_step = False
    for epoch in range(4):
        if epoch == 3:
            for eng in (eager, graphed):
                eng.optimizer.param_groups[0]["lr"] = 0.003
        expected = torch.stack([eager.step(x, y) for x, y in loader.epoch(epoch)])
        losses = graphed.train_epoch(loader.x, loader.y, loader.order(epoch), 64)
        torch.testing.assert_close(losses, expected)
        assert (graphed.epoch_graph is not None) == (epoch > 0), epoch    # epoch 0 makes the momentum buffers
    for p, q in zip(eager.model.parameters(), graphed.model.parameters()):
        torch.testing.assert_close(q, p)
    bad = loader.y.clone()
    bad[7] = 10
    with pytest.raises(ValueError, match="y: expected class indices in"):
        graphed.train_epoch(loader.x, bad, loader.order(4), 64)


def _layered_and_one_kernel(act, batch, **group):
    """Two fused CUDA engines from one seed, the first step taken by both (it makes the momentum buffers),
    `group` set on both optimizers; the first steps layer by layer."""
    from minitorch_clf.engines import build_engine

    engines = [build_engine("fused", optimizer="sgd", lr=0.05, momentum=0.9, device="cuda", activation=act, seed=1)
               for _ in range(2)]
    g = torch.Generator().manual_seed(batch)
    x, y = torch.randn(batch, 784, generator=g).cuda(), torch.randint(0, 10, (batch,), generator=g).cuda()
    for e in engines:
        e.whole_step = False
        e.optimizer.param_groups[0].update(group)
        e.step(x, y)
    return engines, g


def _one_kernel_step(engine, x, y):
    return torch.ops.minitorch_clf.mlp_sgd_step_(x, y, *engine._one_call_args())


@needs_gpu
@pytest.mark.parametrize("act", MF.ACTIVATIONS)
@pytest.mark.parametrize("batch", [1, 37, 64, 1024])
def test_the_one_kernel_cuda_step_follows_the_layered_step(act, batch):
    """mlp_sgd_step_ on CUDA (persistent_step.cu: the whole SGD step in one cooperative launch) against the
    fused engine's layer-by-layer CUDA ops, four steps from the same state: the losses and every parameter
    within float32 noise (other orders of summation), far closer than one step's change; two rows ignored."""
    (layered, one), g = _layered_and_one_kernel(act, batch)
    before = [p.detach().clone() for p in one.model.parameters()]
    for _ in range(4):
        x, y = torch.randn(batch, 784, generator=g).cuda(), torch.randint(0, 10, (batch,), generator=g).cuda()
        if batch > 2:
            y[:2] = -100
        torch.testing.assert_close(_one_kernel_step(one, x, y), layered.step(x, y), rtol=2e-5, atol=1e-6)
    for p, q, p0 in zip(one.model.parameters(), layered.model.parameters(), before):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
        assert (p - p0).abs().max() > 100 * (p - q).abs().max()      # they moved, together


@needs_gpu
@pytest.mark.parametrize("group", [{"nesterov": True, "weight_decay": 1e-3}, {"dampening": 0.3, "maximize": True},
                                   {"momentum": 0.0}])
def test_the_one_kernel_cuda_step_takes_every_sgd_option(group):
    (layered, one), g = _layered_and_one_kernel("relu", 64, **group)
    for _ in range(3):
        x, y = torch.randn(64, 784, generator=g).cuda(), torch.randint(0, 10, (64,), generator=g).cuda()
        torch.testing.assert_close(_one_kernel_step(one, x, y), layered.step(x, y), rtol=2e-5, atol=1e-6)
    for p, q in zip(one.model.parameters(), layered.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)


@needs_gpu
def test_the_one_kernel_cuda_step_is_deterministic_and_refuses_a_bad_target_before_any_change():
    (a, b), g = _layered_and_one_kernel("gelu", 257)
    x, y = torch.randn(257, 784, generator=g).cuda(), torch.randint(0, 10, (257,), generator=g).cuda()
    assert torch.equal(_one_kernel_step(a, x, y), _one_kernel_step(b, x, y))
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)
    before = [p.detach().clone() for p in a.model.parameters()]
    y[100] = 10
    with pytest.raises(RuntimeError, match="class index 10 at position 100 .* no parameter was changed"):
        _one_kernel_step(a, x, y)
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), before))
    with pytest.raises(RuntimeError, match="weights\\[1\\]: expected"):
        torch.ops.minitorch_clf.mlp_sgd_step_(x, y, [a.weights[0], a.weights[0]], a.biases[:2], [], "relu",
                                              0.1, 0.0, 0.0, 0.0, False, False)


def _one_kernel_epoch(engine, x, y, order, batch, drop_last=False):
    return torch.ops.minitorch_clf.mlp_sgd_epoch_(x, y, order, batch, drop_last, *engine._one_call_args())


@needs_gpu
@pytest.mark.parametrize("act", MF.ACTIVATIONS)
@pytest.mark.parametrize("batch,drop_last", [(64, False), (64, True), (1, False), (300, False)])
def test_the_one_kernel_cuda_epoch_is_the_one_kernel_step_per_batch(act, batch, drop_last):
    """mlp_sgd_epoch_ on CUDA (persistent_step.cu's epoch kernel: every step of the epoch in one launch) against
    the one-kernel step called per batch of the same order: the same phases on the same rows, so the same
    bits - every loss and parameter - with a ragged last batch (700 rows) or without it (drop_last), and
    rows read through order (a permutation, x not gathered)."""
    (a, b), g = _layered_and_one_kernel(act, 16)
    n = 700 if batch > 1 else 9
    x, y = torch.randn(n, 1, 28, 28, generator=g).cuda(), torch.randint(0, 10, (n,), generator=g).cuda()
    if batch > 1:
        y[3] = -100                                       # an ignored row (alone in a batch, its loss is NaN)
    order = torch.randperm(n, generator=g).cuda()
    losses = _one_kernel_epoch(a, x, y, order, batch, drop_last)
    rows = x.reshape(n, -1)
    starts = range(0, n - batch + 1 if drop_last else n, batch)
    expected = torch.stack([_one_kernel_step(b, rows[order[s:s + batch]].contiguous(), y[order[s:s + batch]].contiguous())
                            for s in starts])
    assert losses.shape == (len(starts),) and torch.equal(losses, expected)
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)


@needs_gpu
@pytest.mark.parametrize("group", [{}, {"nesterov": True, "weight_decay": 1e-3}, {"momentum": 0.0}])
def test_the_one_kernel_cuda_epoch_follows_the_layered_epoch(group):
    """The epoch kernel against the fused engine's layer-by-layer CUDA steps over the same order (Engine's loop
    of step): every step's loss and the final parameters within float32 noise, an epoch of 30 steps."""
    from minitorch_clf.engines import Engine

    (layered, one), g = _layered_and_one_kernel("relu", 64, **group)
    before = [p.detach().clone() for p in one.model.parameters()]
    x, y = torch.randn(1900, 784, generator=g).cuda(), torch.randint(0, 10, (1900,), generator=g).cuda()
    order = torch.randperm(1900, generator=g).cuda()
    losses = _one_kernel_epoch(one, x, y, order, 64)
    torch.testing.assert_close(losses, Engine.train_epoch(layered, x, y, order, 64), rtol=1e-4, atol=1e-5)
    for p, q, p0 in zip(one.model.parameters(), layered.model.parameters(), before):
        torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-5)
        assert (p - p0).abs().max() > 100 * (p - q).abs().max()      # they moved, together


@needs_gpu
def test_the_one_kernel_cuda_epoch_is_deterministic_and_refuses_bad_rows_before_any_change():
    (a, b), g = _layered_and_one_kernel("gelu", 16)
    x, y = torch.randn(500, 784, generator=g).cuda(), torch.randint(0, 10, (500,), generator=g).cuda()
    order = torch.randperm(500, generator=g).cuda()
    assert torch.equal(_one_kernel_epoch(a, x, y, order, 32), _one_kernel_epoch(b, x, y, order, 32))
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)
    before = [p.detach().clone() for p in a.model.parameters()]
    bad_y = y.clone()
    bad_y[int(order[77])] = 10
    with pytest.raises(RuntimeError, match="class index 10 at position 77 .* no parameter was changed"):
        _one_kernel_epoch(a, x, bad_y, order, 32)
    bad_order = order.clone()
    bad_order[5] = 500
    with pytest.raises(RuntimeError, match=r"order: expected row indices in \[0, 500\)"):
        _one_kernel_epoch(a, x, y, bad_order, 32)
    with pytest.raises(RuntimeError, match="batch_size: expected a positive int"):
        _one_kernel_epoch(a, x, y, order, 0)
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), before))
    assert _one_kernel_epoch(a, x, y, order[:10], 32, drop_last=True).shape == (0,)


@needs_gpu
def test_the_fused_cuda_engine_runs_its_epoch_as_one_kernel_where_asked():
    """FusedEngine.cuda_epoch = "kernel": train_epoch is one launch of the epoch kernel (after the first step,
    which makes the momentum buffers): the bits of the op called on the engine's parameters; "graph" (the
    default) the epoch captured as one CUDA graph of layered steps; anything else is refused by name."""
    from minitorch_clf.engines import build_engine

    engines = [build_engine("fused", lr=0.05, momentum=0.9, device="cuda", seed=2) for _ in range(2)]
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(640, 784, generator=g).cuda(), torch.randint(0, 10, (640,), generator=g).cuda()
    order = torch.randperm(640, generator=g).cuda()
    a, b = engines
    a.cuda_epoch = "kernel"
    losses = a.train_epoch(x, y, order, 64)
    first = b.step(x[order[:64]], y[order[:64]])
    rest = _one_kernel_epoch(b, x, y, order[64:], 64)
    assert torch.equal(losses, torch.cat([first.reshape(1), rest]))
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        a.train_epoch(x, y, order, 64)
        torch.cuda.synchronize()
    names = [e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    assert sum("persistent_epoch_kernel" in n for n in names) == 1, names
    a.cuda_epoch = "graphs"
    with pytest.raises(ValueError, match="cuda_epoch: expected one of"):
        a.train_epoch(x, y, order, 64)


@needs_gpu
@pytest.mark.parametrize("mode", ["kernel", "auto"])
def test_the_fused_cuda_engine_captures_the_one_kernel_step_where_asked(mode):
    """FusedEngine.cuda_step: 'kernel' replays a graph of one mlp_sgd_step_ launch after the warm-up, 'auto' checks
    it against the layered graph and races the two at the first capture (step_choices says what it found). Either
    way the engine trains as the layered one within float32 noise, 8 steps of a batch of 64 and a ragged 37."""
    from minitorch_clf.engines import build_engine

    eng, layered = (build_engine("fused", lr=0.05, momentum=0.9, device="cuda", seed=5) for _ in range(2))
    eng.cuda_step = mode
    g = torch.Generator().manual_seed(2)
    for n in [64] * 8 + [37] * 5:
        x, y = torch.randn(n, 784, generator=g).cuda(), torch.randint(0, 10, (n,), generator=g).cuda()
        torch.testing.assert_close(eng.step(x, y), layered.step(x, y), rtol=1e-4, atol=1e-5)
    for p, q in zip(eng.model.parameters(), layered.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-5)
    assert len(eng.graphs) == 2
    if mode == "auto":
        assert [c["agree"] for c in eng.step_choices.values()] == [True, True]
        assert all(c["chose"] in ("graph", "kernel") and c["kernel_s"] > 0 for c in eng.step_choices.values())
    eng.cuda_step = "graphs"
    eng.graphs.clear()
    eng.seen.clear()
    with pytest.raises(ValueError, match="cuda_step: expected one of"):
        for _ in range(4):
            eng.step(x, y)
