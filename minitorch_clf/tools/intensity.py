"""Arithmetic intensity - flops per byte of memory traffic - of every kernel of a training step.

A roofline puts a kernel at x = its intensity, y = its achieved FLOP/s, under the machine's two
ceilings: y <= peak FLOP/s, and y <= bandwidth x intensity. Where the two meet (the ridge, peak /
bandwidth flops per byte) divides memory-bound kernels (left) from compute-bound ones (right).

The bytes here are the minimum any implementation must move: each operand read once and each result
written once, nothing re-read from memory (the ideal cache). Real kernels move more, so their points
sit at or left of these x positions; the minimum is what makes intensities comparable across
engines and machines. Shapes for layer k of an MLP with sizes (s_0, ..., s_L), batch N, element size e:

  forward      y_k = x_k W_k^T + b_k           2 N s_k s_{k+1} flops;  (N s_k + s_{k+1} s_k + s_{k+1} + N s_{k+1}) e bytes
  weight grad  dW_k = dz_k^T x_k               2 N s_k s_{k+1} flops;  (N s_{k+1} + N s_k + s_{k+1} s_k) e bytes
  input grad   dx_k = dz_k W_k  (k >= 1)       2 N s_k s_{k+1} flops;  (N s_{k+1} + s_{k+1} s_k + N s_k) e bytes

The whole step's flops are the GEMMs' (MLPConfig.flops_per_sample, what `bench` reports as GFLOP/s);
its minimum bytes are what must cross memory whatever the engine: the batch (x, e bytes a value, and
8-byte targets), every parameter read and written, and the optimizer's state read and written (SGD
with momentum: one buffer per parameter; Adam: two). Activations and gradients are not counted: an
ideal step keeps them in cache, and at SimpleNet's sizes (202 floats a sample) they do fit for small
batches. The step's points of different engines share this x and differ only in y.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import expect_one_of
from ..models import MLPConfig

STATE_PER_PARAM = {"sgd": 1, "adam": 2, "adamw": 2, "rmsprop": 1}   # momentum / exp_avg + exp_avg_sq / square_avg


@dataclass(frozen=True)
class Cost:
    name: str
    flops: int
    bytes: int

    @property
    def intensity(self) -> float:
        """flops per byte."""
        return self.flops / self.bytes


def gemm(name: str, m: int, n: int, k: int, itemsize: int = 4) -> Cost:
    """C (m, n) = A (m, k) . B (k, n): 2mnk flops, A and B read and C written once."""
    return Cost(name, 2 * m * n * k, (m * k + k * n + m * n) * itemsize)


def step_gemms(config: MLPConfig, batch: int, itemsize: int = 4) -> list[Cost]:
    """The 3L - 1 products of one training step, in the order bench --gemm lists them."""
    sizes, out = config.sizes, []
    pairs = list(zip(sizes[:-1], sizes[1:]))
    for k, (i, o) in enumerate(pairs):
        out.append(gemm(f"fc{k + 1} y = x.W^T", batch, o, i, itemsize))
    for k, (i, o) in enumerate(pairs):
        out.append(gemm(f"fc{k + 1} dW = dz^T.x", o, i, batch, itemsize))
    for k, (i, o) in enumerate(pairs):
        if k >= 1:
            out.append(gemm(f"fc{k + 1} dx = dz.W", batch, i, o, itemsize))
    return out


def linear_forward(config: MLPConfig, batch: int, layer: int = 0, itemsize: int = 4) -> Cost:
    """One layer's fused forward (GEMM + bias + activation): the GEMM's cost plus the bias read and the
    bias add and activation as 2 flops per output."""
    i, o = config.sizes[layer], config.sizes[layer + 1]
    g = gemm("", batch, o, i, itemsize)
    return Cost(f"fc{layer + 1} forward", g.flops + 2 * batch * o, g.bytes + o * itemsize)


def cross_entropy(batch: int, classes: int, itemsize: int = 4) -> Cost:
    """Softmax cross-entropy forward and backward in one pass (the fused op): per logit a max, a
    subtraction, an exp, a sum and the gradient's scale-and-subtract - counted as 5 flops (an exp is
    many instructions; the convention keeps kernels comparable, not exact). Logits read, their
    gradient written, 8-byte targets read, the loss written."""
    return Cost("cross-entropy", 5 * batch * classes, (2 * batch * classes + 1) * itemsize + 8 * batch)


def sgd_update(params: int, itemsize: int = 4) -> Cost:
    """SGD with momentum over `params` elements: buf = m buf + g, p -= lr buf - 2 FMAs, 4 flops an
    element; p, g and buf read, p and buf written."""
    return Cost("SGD update", 4 * params, 5 * params * itemsize)


def step(config: MLPConfig, batch: int, itemsize: int = 4, optimizer: str = "sgd") -> Cost:
    """The whole training step: the GEMMs' flops over the minimum bytes (see the module docstring)."""
    expect_one_of("optimizer", optimizer, tuple(STATE_PER_PARAM))
    sizes = config.sizes
    params = sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))
    batch_bytes = batch * (sizes[0] * itemsize + 8)
    moved = batch_bytes + 2 * params * itemsize * (1 + STATE_PER_PARAM[optimizer])
    return Cost("step", config.flops_per_sample() * batch, moved)


def ridge(peak_gflops: float, bandwidth_gbs: float) -> float:
    """The intensity (flops per byte) where the compute and memory ceilings meet."""
    return peak_gflops / bandwidth_gbs


def attainable(intensity: float, peak_gflops: float, bandwidth_gbs: float) -> float:
    """The roofline: min(peak, bandwidth x intensity), GFLOP/s."""
    return min(peak_gflops, bandwidth_gbs * intensity)
