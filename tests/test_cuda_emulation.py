"""kernels/cuda/persistent_step.cu's kernels (the whole SGD step, and the epoch, in one cooperative launch) run
on the CPU: tests/cuda_emu/ puts a std::thread under every CUDA thread (warp shuffles and block and grid
barriers as barriers of those threads) and builds the kernels with g++, so that their logic - which thread
takes which item, what each barrier separates, the ragged last batch, the rows read through the order, the
bad-target exit - is checked against the CPU op mlp_sgd_epoch_ / mlp_sgd_step_ on a machine without a GPU.
Grids of 1 to 3 blocks of 32 to 96 threads on tiny layers make every grid-stride loop wrap. What this cannot
check: speed, and the GPU's memory model beyond what the barriers give (tests/test_cuda_kernels.py runs the
real kernels where a GPU is)."""
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from minitorch_clf import functional as MF
from minitorch_clf import ops

pytestmark = pytest.mark.slow                 # a g++ build, then a process of ~100 threads per case
ROOT = Path(__file__).resolve().parents[1]
needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ (C++20) to build the emulation")
SIZES = (20, 12, 9, 4)                # outputs of 12 and 9: a group of 8 and a short one in phase B


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    exe = tmp_path_factory.mktemp("emu") / "persistent_emu"
    build = subprocess.run(["g++", "-std=c++20", "-O1", "-pthread", "-I", str(ROOT / "tests/cuda_emu"), "-I",
                            str(ROOT / "kernels/cuda"), str(ROOT / "tests/cuda_emu/persistent_emu.cpp"), "-o", str(exe)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    return exe


def _problem(seed, n, momentum, sizes=SIZES):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, sizes[0], generator=g)
    y = torch.randint(0, sizes[-1], (n,), generator=g)
    weights = [torch.randn(o, i, generator=g) / i ** 0.5 for i, o in zip(sizes, sizes[1:])]
    biases = [0.1 * torch.randn(o, generator=g) for o in sizes[1:]]
    bufs = [0.01 * torch.randn(p.shape, generator=g) for w, b in zip(weights, biases) for p in (w, b)] if momentum else []
    return x, y, weights, biases, bufs


def _run(emulator, folder: Path, mode, x, y, order, batch, drop_last, weights, biases, bufs, act, hyper, grid):
    """The emulated kernel on these arrays: (losses, counts, parameters after, buffers after)."""
    L = len(weights)
    lr, momentum, dampening, weight_decay, nesterov, maximize = hyper
    blocks, threads = grid
    k = len(order) if order is not None else len(y)
    sizes = [x.shape[1]] + [w.shape[0] for w in weights]
    (folder / "meta.txt").write_text(f"{mode} {L} {len(y)} {k} {batch} {int(drop_last)} {act} {lr} {momentum} "
                                     f"{dampening} {weight_decay} {int(nesterov)} {int(maximize)} {blocks} {threads}\n"
                                     + " ".join(map(str, sizes)) + "\n")
    x.numpy().tofile(folder / "x.bin")
    y.numpy().tofile(folder / "target.bin")
    if order is not None:
        order.numpy().tofile(folder / "order.bin")
    for l in range(L):
        weights[l].numpy().tofile(folder / f"w{l}.bin")
        biases[l].numpy().tofile(folder / f"b{l}.bin")
        if bufs:
            bufs[2 * l].numpy().tofile(folder / f"wb{l}.bin")
            bufs[2 * l + 1].numpy().tofile(folder / f"bb{l}.bin")
    run = subprocess.run([str(emulator), str(folder)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    read = lambda name, like: torch.from_numpy(np.fromfile(folder / name, dtype=np.float32)).reshape(like.shape)
    losses = torch.from_numpy(np.fromfile(folder / "losses.bin", dtype=np.float32))
    counts = np.fromfile(folder / "counts.bin", dtype=np.int32)
    params = [read(f"{kind}{l}.out.bin", p) for l in range(L) for kind, p in (("w", weights[l]), ("b", biases[l]))]
    after = [read(f"{kind}{l}.out.bin", bufs[2 * l + j]) for l in range(L) for j, kind in enumerate(("wb", "bb"))] \
        if bufs else []
    return losses, counts, params, after


def _close(got, want):
    torch.testing.assert_close(got, want, rtol=2e-5, atol=2e-6)      # float32, other orders of summation


CASES = [
    # activation, n, batch, drop_last, (lr, momentum, dampening, weight_decay, nesterov, maximize), (blocks, threads)
    ("relu", 13, 5, False, (0.1, 0.9, 0.0, 0.0, False, False), (2, 64)),
    ("gelu", 13, 5, True, (0.1, 0.9, 0.0, 0.01, True, False), (3, 32)),
    ("tanh", 9, 1, False, (0.05, 0.5, 0.3, 0.0, False, True), (1, 96)),
    ("leaky_relu", 16, 16, False, (0.1, 0.0, 0.0, 0.0, False, False), (2, 32)),
    *[(act, 11, 4, False, (0.1, 0.9, 0.0, 0.0, False, False), (2, 64))
      for act in MF.ACTIVATIONS if act not in ("relu", "gelu", "tanh", "leaky_relu")],
]


@needs_gxx
@pytest.mark.parametrize("act,n,batch,drop_last,hyper,grid,sizes", [(*case, SIZES) for case in CASES] + [
    ("relu", 100, 64, False, (0.05, 0.9, 0.0, 0.0, False, False), (2, 64), (784, 128, 64, 10))])   # SimpleNet's
def test_the_epoch_kernel_emulated_on_the_cpu_trains_as_the_cpu_epoch_op(emulator, tmp_path, act, n, batch, drop_last,
                                                                         hyper, grid, sizes):
    """The epoch kernel (every step's phases in one launch, x's rows read through a permutation, a ragged last
    batch or none, one target ignored) against mlp_sgd_epoch_ on the CPU from the same state: every loss,
    parameter and momentum buffer within float32 noise, while the parameters moved by far more. Tiny layers,
    and SimpleNet's own (784-128-64-10, batches of 64 and 36)."""
    ops.load()
    x, y, weights, biases, bufs = _problem(n, n, hyper[1], sizes)
    if batch > 1:
        y[2] = -100
    order = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    losses, counts, params, after = _run(emulator, tmp_path, "epoch", x, y, order, batch, drop_last, weights, biases,
                                         bufs, act, hyper, grid)
    W, B, U = [w.clone() for w in weights], [b.clone() for b in biases], [u.clone() for u in bufs]
    want = torch.ops.minitorch_clf.mlp_sgd_epoch_(x, y, order, batch, drop_last, W, B, U, act, *hyper)
    assert counts[0] == 0 and losses.shape == want.shape
    _close(losses, want)
    for got, p, p0 in zip(params, [t for pair in zip(W, B) for t in pair], [t for pair in zip(weights, biases) for t in pair]):
        _close(got, p)
        assert (p - p0).abs().max() > 1e-3
    for got, u in zip(after, U):
        _close(got, u)


@needs_gxx
@pytest.mark.parametrize("act", ["relu", "gelu_tanh"])
def test_the_step_kernel_emulated_on_the_cpu_is_the_cpu_step_op(emulator, tmp_path, act):
    ops.load()
    hyper = (0.1, 0.9, 0.1, 0.01, False, False)
    x, y, weights, biases, bufs = _problem(7, 37, 0.9)
    losses, counts, params, after = _run(emulator, tmp_path, "step", x, y, None, 37, False, weights, biases, bufs, act,
                                         hyper, (2, 64))
    W, B, U = [w.clone() for w in weights], [b.clone() for b in biases], [u.clone() for u in bufs]
    _close(losses[0], torch.ops.minitorch_clf.mlp_sgd_step_(x, y, W, B, U, act, *hyper))
    for got, p in zip(params + after, [t for pair in zip(W, B) for t in pair] + U):
        _close(got, p)


@needs_gxx
def test_a_bad_target_stops_the_emulated_epoch_kernel_before_its_step_changes_anything(emulator, tmp_path):
    """A target outside [0, C) in step 3 of 5: every block leaves after that step's first barrier (the binding
    checks the targets before it launches; the kernel's own exit is what remains if one got through): the
    first two steps trained, counts[0] flags it, and the parameters are the first two steps' exactly."""
    ops.load()
    hyper = (0.1, 0.9, 0.0, 0.0, False, False)
    x, y, weights, biases, bufs = _problem(3, 20, 0.9)
    order = torch.arange(20)
    y[9] = 4                                                   # step 3 holds rows 8..11
    losses, counts, params, _ = _run(emulator, tmp_path, "epoch", x, y, order, 4, False, weights, biases, bufs,
                                     "relu", hyper, (2, 64))
    W, B, U = [w.clone() for w in weights], [b.clone() for b in biases], [u.clone() for u in bufs]
    want = torch.ops.minitorch_clf.mlp_sgd_epoch_(x, y, order[:8], 4, False, W, B, U, "relu", *hyper)
    assert counts[0] == 1
    _close(losses[:2], want)
    for got, p in zip(params, [t for pair in zip(W, B) for t in pair]):
        _close(got, p)
