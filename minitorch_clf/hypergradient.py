"""A hypergradient: how the validation loss after k training steps changes with the learning rate.

The optimizers' differentiable mode (optim/) records every update in autograd's graph, so the
weights after k steps are a function of the learning rate that backward() can differentiate:

    θ_{j+1} = update(θ_j, g_j, lr),   g_j = ∇θ L_train(θ_j; batch j),   H(lr) = L_val(θ_k)
    dH/dlr  = ∂L_val/∂θ_k · dθ_k/dlr,  dθ_{j+1}/dlr = ∂update/∂lr + (∂update/∂θ + ∂update/∂g · ∇²L_train) dθ_j/dlr

The second term is why each g_j is taken with create_graph=True: a later gradient depends on lr
through the weights it is evaluated at. The weights start as plain tensors (no grad of their own);
the first update with a Tensor lr that requires grad puts them in the graph. Each forward reads a
copy of the weights (w.clone()): the optimizer updates the weights in place, which would overwrite
what the forward saved for its backward (autograd refuses that, rightly). `finite_difference`
checks the result without autograd: (H(lr + h) - H(lr - h)) / 2h, in float64.

    from minitorch_clf.hypergradient import hypergradient, finite_difference
    hypergradient(0.05, "sgd", momentum=0.9)       # dH/dlr by autograd through 5 SGD steps
    finite_difference(0.05, "sgd", momentum=0.9)   # the same, by central differences
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import optim as ours
from .errors import expect_one_of

SIZES = (784, 32, 10)          # a small MLP: the point is the optimizer, not the model


def _problem(seed: int, batch: int, steps: int):
    """(initial weights, training batches, validation batch) drawn from `seed`, float64: MNIST-shaped
    random inputs, labels from a fixed random linear teacher so that there is something to learn."""
    g = torch.Generator().manual_seed(seed)
    teacher = torch.randn(SIZES[0], SIZES[-1], generator=g, dtype=torch.float64)
    data = lambda n: (lambda x: (x, (x @ teacher).argmax(1)))(torch.randn(n, SIZES[0], generator=g, dtype=torch.float64))
    weights = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = fan_in ** -0.5
        weights += [(torch.rand(fan_out, fan_in, generator=g, dtype=torch.float64) * 2 - 1) * bound,
                    torch.zeros(fan_out, dtype=torch.float64)]
    return weights, [data(batch) for _ in range(steps)], data(4 * batch)


def _loss(weights, x, y) -> torch.Tensor:
    w1, b1, w2, b2 = weights
    return F.cross_entropy(F.linear(torch.relu(F.linear(x, w1, b1)), w2, b2), y)


def validation_loss(lr: float | torch.Tensor, optimizer: str = "sgd", steps: int = 5, seed: int = 0,
                    batch: int = 32, **options) -> torch.Tensor:
    """H(lr): the validation loss after `steps` steps of `optimizer` (a name of optim.REGISTRY) at
    learning rate `lr`, every update recorded by autograd where `lr` is a Tensor that requires grad."""
    expect_one_of("optimizer", optimizer, tuple(ours.REGISTRY))
    weights, batches, (x_val, y_val) = _problem(seed, batch, steps)
    opt = getattr(ours, ours.REGISTRY[optimizer][0])(weights, lr=lr, differentiable=True, **options)
    for x, y in batches:
        if weights[0].requires_grad:              # in the graph: after an update with a Tensor lr
            copies = [w.clone() for w in weights]
            grads = torch.autograd.grad(_loss(copies, x, y), copies, create_graph=True)
        else:                                     # the starting weights (or a float lr): plain gradients
            leaves = [w.detach().requires_grad_() for w in weights]
            grads = torch.autograd.grad(_loss(leaves, x, y), leaves)
        for w, g in zip(weights, grads):
            w.grad = g
        opt.step()
    return _loss([w.clone() for w in weights], x_val, y_val)


def hypergradient(lr: float, optimizer: str = "sgd", **kw) -> float:
    """dH/dlr at `lr`, by backward through the optimizer's recorded updates."""
    lr_t = torch.tensor(float(lr), dtype=torch.float64, requires_grad=True)
    (d,) = torch.autograd.grad(validation_loss(lr_t, optimizer, **kw), lr_t)
    return d.item()


def finite_difference(lr: float, optimizer: str = "sgd", rel_step: float = 1e-6, **kw) -> float:
    """dH/dlr at `lr` by central differences, no autograd: (H(lr + h) - H(lr - h)) / 2h, h = rel_step lr.
    lr goes in as a float64 tensor that does not require grad: the step sizes are then computed in
    float64 as in `hypergradient` (a Python float against Adam's float32 step count would round them
    to float32, 6e-8 relative, which a difference quotient over 1e-6 of lr turns into 6e-2). h is small
    because the MLP is piecewise smooth: a wider h (1e-3 of lr) crossed a ReLU kink for AdamW here."""
    h = rel_step * lr
    up, down = (validation_loss(torch.tensor(lr + s, dtype=torch.float64), optimizer, **kw).item() for s in (h, -h))
    return (up - down) / (2 * h)
