"""SimpleNet twice: hand-written (`SimpleNet`) and the seed's nn.Module (`ReferenceNet`).

One `MLPConfig` builds both. Parameters are created in the same order with the same init, so the
same `torch.manual_seed` gives bit-identical weights, and `state_dict` keys (`fc1.weight`, ...)
match: weights load both ways.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from . import functional as MF
from .errors import expect_one_of
from .functional import TORCH_ACTIVATIONS
from .layers import Activation, Linear, Sequential


@dataclass(frozen=True)
class MLPConfig:
    in_features: int = 784
    hidden: tuple[int, ...] = (128, 64)
    num_classes: int = 10
    activation: str = "relu"              # between the linear layers: a name of functional.ACTIVATIONS
    precision: str = "float32"            # of the products' inputs: functional.PRECISIONS (round_to)

    def __post_init__(self):
        count = lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1
        for name in ("in_features", "num_classes"):
            if not count(getattr(self, name)):
                raise ValueError(f"{name}: expected a positive int, got {getattr(self, name)!r}")
        if not isinstance(self.hidden, (tuple, list)) or not all(count(h) for h in self.hidden):
            raise ValueError(f"hidden: expected positive layer sizes like (128, 64), got {self.hidden!r}")
        expect_one_of("activation", self.activation, tuple(MF.ACTIVATIONS))
        expect_one_of("precision", self.precision, MF.PRECISIONS)

    @property
    def sizes(self) -> tuple[int, ...]:
        """(784, 128, 64, 10) by default: layer k maps sizes[k] -> sizes[k+1]."""
        return (self.in_features, *self.hidden, self.num_classes)

    def flops_per_sample(self) -> int:
        """Multiply-adds x 2 of one training step per sample: forward, dX and dW GEMMs.

        The first layer's dX is not needed (its input is data), hence the subtraction.
        """
        macs = sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))
        return 2 * (3 * macs - self.sizes[0] * self.sizes[1])


def _flatten(x: torch.Tensor, in_features: int) -> torch.Tensor:
    """(N, 1, 28, 28) or (N, 784) -> (N, 784); refuses anything that does not hold in_features per row."""
    if x.dim() < 2 or x[0].numel() != in_features:
        raise ValueError(f"x: expected (N, {in_features}) or (N, ...) with {in_features} values per "
                         f"sample, got shape {tuple(x.shape)}")
    return x.reshape(x.shape[0], in_features)


class SimpleNet(Sequential):
    """Linear -> activation -> ... -> Linear, every step hand-written; `backward(dlogits)` fills .grad."""

    def __init__(self, config: MLPConfig = MLPConfig()):
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        sizes = config.sizes
        for k in range(len(sizes) - 1):
            layers[f"fc{k + 1}"] = Linear(sizes[k], sizes[k + 1], precision=config.precision)
            if k < len(sizes) - 2:
                layers[f"{config.activation}{k + 1}"] = Activation(config.activation)
        super().__init__(layers)
        self.config = config

    def forward(self, x: torch.Tensor) -> torch.Tensor:             # (N, ...) -> (N, C)
        return super().forward(_flatten(x, self.config.in_features))


class ReferenceNet(nn.Module):
    """The seed's model: nn.Linear and ReLU (or the configured activation's torch module), trained by autograd.
    Its precision is the engine's: the reference engine runs it under torch.autocast."""

    def __init__(self, config: MLPConfig = MLPConfig()):
        super().__init__()
        sizes = config.sizes
        for k in range(len(sizes) - 1):
            setattr(self, f"fc{k + 1}", nn.Linear(sizes[k], sizes[k + 1]))
        self.activation = TORCH_ACTIVATIONS[config.activation]()
        self.config = config
        self.n_layers = len(sizes) - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:             # (N, ...) -> (N, C)
        x = x.view(-1, self.config.in_features)
        for k in range(1, self.n_layers):
            x = self.activation(getattr(self, f"fc{k}")(x))
        return getattr(self, f"fc{self.n_layers}")(x)
