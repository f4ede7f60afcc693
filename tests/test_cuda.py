"""GPU checks of the hand-written path: collected everywhere, skipped where no CUDA GPU is present."""
import pytest
import torch

from minitorch_clf import data as D
from minitorch_clf.checks import run_checks
from minitorch_clf.engines import build_engine
from minitorch_clf.train import TrainConfig, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_checks_pass_on_cuda(dtype):
    rows = run_checks(dtype, "cuda")
    assert all(r.passed for r in rows), [r for r in rows if not r.passed]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_manual_matches_reference_on_cuda(optimizer):
    engines = [build_engine(n, optimizer=optimizer, device="cuda", dtype=torch.float64) for n in ("reference", "manual")]
    g = torch.Generator().manual_seed(0)
    for _ in range(10):
        x = torch.randn(32, 784, generator=g, dtype=torch.float64).cuda()
        y = torch.randint(0, 10, (32,), generator=g).cuda()
        a, b = (e.step(x, y) for e in engines)
        torch.testing.assert_close(b, a, rtol=1e-10, atol=0)


def test_cuda_matches_cpu_float64():
    cpu, gpu = (build_engine("manual", optimizer="adam", device=d, dtype=torch.float64) for d in ("cpu", "cuda"))
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        x, y = torch.randn(16, 784, generator=g, dtype=torch.float64), torch.randint(0, 10, (16,), generator=g)
        torch.testing.assert_close(gpu.step(x.cuda(), y.cuda()).cpu(), cpu.step(x, y), rtol=1e-10, atol=0)


def test_tensor_loader_on_cuda_matches_cpu():
    split = D.synthetic_mnist(200)
    a = list(D.TensorLoader(split, 64, device="cuda").epoch(0))
    b = list(D.TensorLoader(split, 64).epoch(0))
    assert all(torch.equal(xa.cpu(), xb) and torch.equal(ya.cpu(), yb) for (xa, ya), (xb, yb) in zip(a, b))


def test_train_on_cuda(tmp_path):
    result = train(TrainConfig(device="cuda", epochs=2), tmp_path / "run", progress=False, log=lambda *a: None)
    assert result.metrics[-1]["test_accuracy"] > 0.85


def test_gpu_fma_probe_runs_every_chain():
    """kernels/cuda/peak.cu: each thread's output is the sum of its 16 chains after `iters` FMAs
    c <- 0.999 c + 1e-6, which has a closed form; the probe is also refused a CPU or float64 tensor."""
    from minitorch_clf.tools import probes

    out = torch.empty(1000, device="cuda")
    probes.gpu_fma_chains_(out, 100)
    i = torch.arange(1000, dtype=torch.float64)
    c0 = 1e-3 * (torch.arange(1, 17, dtype=torch.float64)[None, :] + (i % 8)[:, None])
    m, a = 0.999, 1e-6
    expected = (c0 * m**100 + a * (1 - m**100) / (1 - m)).sum(1)
    torch.testing.assert_close(out.cpu().double(), expected, rtol=1e-4, atol=0)
    for bad in (torch.empty(8), torch.empty(8, device="cuda", dtype=torch.float64)):
        with pytest.raises(ValueError, match="out"):
            probes.gpu_fma_chains_(bad, 10)


def test_gpu_ceilings_are_plausible():
    """The measured FMA peak lies between 1 and 500 TFLOP/s and above what a float32 (no TF32) GEMM
    reaches x 0.8; the triad's bandwidth within 2x of the copy's, both under 20 TB/s."""
    from minitorch_clf.tools.machine import gpu_ceilings

    c = gpu_ceilings(torch.device("cuda"), nbytes=256 << 20)
    assert 1e3 < c["fp32_peak_gflops"] < 5e5
    assert c["gemm_gflops"]["float32"] < 1.25 * c["fp32_peak_gflops"]
    assert 0.5 * c["copy_gbs"] < c["bandwidth_gbs"]["DRAM"] < 2 * c["copy_gbs"] < 4e4


@pytest.mark.parametrize("name,kw", [("Adam", {"lr": 0.01}), ("AdamW", {"amsgrad": True}),
                                     ("RMSprop", {"momentum": 0.5, "centered": True})])
def test_a_capturable_step_replays_in_a_cuda_graph(name, kw):
    """capturable=True: the step (its count and bias corrections on the GPU) captured once by torch.cuda.graph
    and replayed on new gradients follows torch's capturable optimizer stepped eagerly; the step count
    advances on the device with each replay."""
    from minitorch_clf import optim as ours

    g = torch.Generator().manual_seed(0)
    start = [torch.randn(64, 32, generator=g, dtype=torch.float64), torch.randn(32, generator=g, dtype=torch.float64)]
    grads = [[torch.randn(p.shape, generator=g, dtype=torch.float64).cuda() for p in start] for _ in range(6)]
    ref, mine = [p.cuda() for p in start], [p.cuda() for p in start]
    opt_ref = getattr(torch.optim, name)(ref, capturable=True, **kw)
    opt = getattr(ours, name)(mine, capturable=True, **kw)
    for p in mine:
        p.grad = torch.zeros_like(p)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):                      # warm-up on a side stream (makes the state), as torch documents
        for p, gr in zip(mine, grads[0]):
            p.grad.copy_(gr)
        opt.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        opt.step()
    for p, gr in zip(ref, grads[0]):
        p.grad = gr.clone()
    opt_ref.step()
    for step in grads[1:]:
        for p, q, gr in zip(ref, mine, step):
            p.grad = gr.clone()
            q.grad.copy_(gr)
        opt_ref.step()
        graph.replay()
    torch.cuda.synchronize()
    for p, q in zip(ref, mine):
        torch.testing.assert_close(q, p, rtol=1e-10, atol=1e-12)
    assert all(st["step"].is_cuda and st["step"].item() == len(grads) for st in opt.state.values())


@pytest.mark.parametrize("optimizer,precision", [("sgd", "float32"), ("adam", "float32"), ("sgd", "bf16")])
def test_graphed_reference_follows_reference_on_cuda(optimizer, precision):
    """graphed-reference (the seed's step as one CUDA graph: 3 eager side-stream steps per batch shape, then
    capture and replay) against reference, the same seed and batches, a ragged batch included: per-step losses
    and the final weights within float32 rounding (torch.optim's fused / capturable implementations against
    its default one); each returned loss is its own step's, not the static tensor the next replay rewrites."""
    ref, eng = (build_engine(n, optimizer=optimizer, lr=0.01, device="cuda", precision=precision, seed=4)
                for n in ("reference", "graphed-reference"))
    g = torch.Generator().manual_seed(5)
    got, want = [], []
    for n in [64] * 7 + [37] * 5 + [64] * 2:
        x, y = torch.randn(n, 784, generator=g).cuda(), torch.randint(0, 10, (n,), generator=g).cuda()
        got.append(eng.step(x, y))
        want.append(ref.step(x, y))
    assert len(eng.graphs) == 2                                   # (64, ...) and (37, ...) captured
    torch.testing.assert_close(torch.stack(got), torch.stack(want), rtol=1e-4, atol=1e-5)
    for p, q in zip(eng.model.parameters(), ref.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_gpu_barrier_probe_passes_every_barrier_and_refuses_what_cannot_launch():
    """kernels/cuda/barriers.cu (the cost of a grid or cluster barrier, for the persistent step of issue 27):
    every block passes every barrier - one block per SM across the grid, and clusters of 2 to 16 on compute
    capability 9.0 - and the costs come out positive and under 100 us; a grid larger than the resident blocks,
    a count of blocks that no cluster divides, a cluster of 17 and a float32 out are refused."""
    from minitorch_clf.tools import probes

    props = torch.cuda.get_device_properties(0)
    sms = props.multi_processor_count
    out = torch.empty(sms, dtype=torch.int32, device="cuda")
    probes.gpu_barrier_rounds_(out, 0, 50)
    assert (out == 50).all()
    assert 0 < probes.gpu_barrier_us(sms, 0, iters=200) < 100
    clusters = (2, 4, 8, 16) if props.major >= 9 else ()
    for c in clusters:
        out = torch.empty(sms // c * c, dtype=torch.int32, device="cuda")
        probes.gpu_barrier_rounds_(out, c, 50)
        assert (out == 50).all(), c
    if props.major < 9:
        with pytest.raises(RuntimeError, match="compute capability 9.0"):
            probes.gpu_barrier_rounds_(torch.empty(4, dtype=torch.int32, device="cuda"), 2, 1)
    for blocks, cluster, word in ((100 * sms * 64, 0, "resident at once"), (6, 4, "multiple of cluster"),
                                  (17, 17, "cluster: expected")):
        if cluster and props.major < 9 and word != "cluster: expected":
            continue
        with pytest.raises(RuntimeError, match=word):
            probes.gpu_barrier_rounds_(torch.empty(blocks, dtype=torch.int32, device="cuda"), cluster, 1)
    with pytest.raises(ValueError, match="out"):
        probes.gpu_barrier_rounds_(torch.empty(4, device="cuda"), 0, 1)


@pytest.mark.parametrize("precision", ["bf16", "tf32"])
def test_fused_products_on_tensor_cores_follow_manuals_rounding(precision):
    """fused on a GPU with its products in bf16 / tf32 (cuBLASLt's tensor cores, kernels/cuda/cublaslt.cpp)
    against manual's written-out rounding (functional.round_to, float32 products), the same weights and
    batches: 12 steps (3 eager, layer by layer, then the graphed whole step, captured in the precision),
    then an epoch graph. bf16: both round the operands to nearest even and the products of bf16 values are
    exact, so only the float32 sums' order differs: within 1e-4 of the largest entry (a product that rounded
    one operand less would be off by ~2^-9). tf32: cuBLASLt reads the operands itself (its rounding need not
    be round_to's), so within the format's bound (check's PRECISION_BOUND). In both the float32 fused step
    lands farther from manual's than fused does (the rounding is in effect). The one-kernel epoch refuses
    the precision by name."""
    from minitorch_clf.checks import PRECISION_BOUND

    fused, manual, plain = (build_engine(n, lr=0.05, device="cuda", precision=p, seed=3)
                            for n, p in (("fused", precision), ("manual", precision), ("fused", "float32")))
    g = torch.Generator().manual_seed(6)
    bound = 1e-4 if precision == "bf16" else PRECISION_BOUND[precision]
    for step in range(12):
        x, y = torch.randn(256, 784, generator=g).cuda(), torch.randint(0, 10, (256,), generator=g).cuda()
        lf, lm, lp = (e.step(x, y) for e in (fused, manual, plain))
        assert abs(lf - lm) <= bound * abs(lm), step
    assert fused.graphs                                           # the whole step ran as a graph
    x, y = torch.randn(640, 784, generator=g).cuda(), torch.randint(0, 10, (640,), generator=g).cuda()
    order = torch.randperm(640, generator=g).cuda()
    lf, lm, _ = (e.train_epoch(x, y, order, 64) for e in (fused, manual, plain))
    assert fused.epoch_graph is not None and ((lf - lm).abs() <= bound * lm.abs()).all()
    flat = lambda e: torch.cat([p.detach().reshape(-1) for p in e.model.parameters()])
    scale = flat(manual).abs().max()
    assert (flat(fused) - flat(manual)).abs().max() <= bound * scale
    assert (flat(plain) - flat(manual)).abs().max() > (flat(fused) - flat(manual)).abs().max()
    fused.cuda_epoch = "kernel"
    with pytest.raises(ValueError, match=f"cuda_epoch: the epoch kernel runs float32 products, not {precision}"):
        fused.train_epoch(x, y, order, 64)
