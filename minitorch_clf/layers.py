"""Layers with a hand-written backward, built on functional.py.

They are `torch.nn.Module`s only for bookkeeping: parameters, `state_dict`, `.to()`. Parameters are
created with `requires_grad=False`: autograd never records these layers, so no graph is built and no
`no_grad` context is needed. Forward keeps its cache; `backward(dout)` runs the rule from
functional.py and *accumulates* into each parameter's `.grad`, as autograd does, so any
`torch.optim` optimizer (or ours, in optim/) can step on the result. Call order is forward, then
backward, once each.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from . import functional as MF
from .errors import expect_one_of


def _accumulate(param: nn.Parameter, grad: torch.Tensor) -> None:
    if param.grad is None:
        param.grad = grad
    else:
        param.grad += grad


class Layer(nn.Module):
    """A module whose gradient comes from `backward`, not from autograd."""

    _cache = None

    def __setattr__(self, name, value):
        # the cache is set twice a step: skip nn.Module's parameter/buffer/module bookkeeping for it
        if name == "_cache":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def backward(self, dout: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _take_cache(self):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called without a forward before it")
        cache, self._cache = self._cache, None
        return cache


class Linear(Layer):
    """y = x Wᵀ + b with nn.Linear's parameters and initialisation; `precision` rounds the products'
    inputs (functional.round_to: 'bf16' or 'tf32'; 'float32' leaves them)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, precision: str = "float32"):
        super().__init__()
        self.in_features, self.out_features, self.precision = in_features, out_features, precision
        self.weight = nn.Parameter(torch.empty(out_features, in_features), requires_grad=False)
        self.bias = nn.Parameter(torch.empty(out_features), requires_grad=False) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.Linear's init: W and b uniform in ±1/√fan_in.

        nn.Linear calls kaiming_uniform_(W, a=√5): gain = √(2/(1+a²)) = √(1/3), and the bound
        gain·√(3/fan_in) simplifies to 1/√fan_in. The bound is computed in torch's order of
        operations, and W is drawn before b, so that a shared seed gives bit-identical weights.
        """
        fan_in = self.in_features
        negative_slope = math.sqrt(5)
        gain = math.sqrt(2.0 / (1 + negative_slope**2))
        bound_w = math.sqrt(3.0) * (gain / math.sqrt(fan_in)) if fan_in > 0 else 0.0
        self.weight.uniform_(-bound_w, bound_w)
        if self.bias is not None:
            bound_b = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            self.bias.uniform_(-bound_b, bound_b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:            # (N, I) -> (N, O)
        out, self._cache = MF.linear_forward(x, self.weight, self.bias, self.precision)
        return out

    def backward(self, dout: torch.Tensor, need_dx: bool = True) -> torch.Tensor | None:
        dx, dweight, dbias = MF.linear_backward(dout, self._take_cache(), need_dx=need_dx)
        _accumulate(self.weight, dweight)
        if self.bias is not None:
            _accumulate(self.bias, dbias)
        return dx

    def extra_repr(self) -> str:
        precision = "" if self.precision == "float32" else f", precision={self.precision}"
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}{precision}"


class Activation(Layer):
    """An element-wise activation by its name in functional.ACTIVATIONS."""

    def __init__(self, name: str = "relu"):
        super().__init__()
        expect_one_of("activation", name, tuple(MF.ACTIVATIONS))
        self.name = name
        self._forward, self._backward = MF.ACTIVATIONS[name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, self._cache = self._forward(x)
        return out

    def backward(self, dout: torch.Tensor) -> torch.Tensor:
        return self._backward(dout, self._take_cache())

    def extra_repr(self) -> str:
        return self.name


class ReLU(Activation):
    def __init__(self):
        super().__init__("relu")


class CrossEntropyLoss(Layer):
    """nn.CrossEntropyLoss's options; `backward()` returns dlogits (it has no parameters). SimpleNet's
    case - (N, C) logits against class indices, the mean, no weight or smoothing - is functional.py's
    cross-entropy; it hands any other option to the general one (cross_entropy_general.py)."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__()
        self.register_buffer("weight", weight)
        self.ignore_index, self.reduction, self.label_smoothing = ignore_index, reduction, label_smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss, cache = MF.cross_entropy_forward(logits, target, self.weight, self.ignore_index, self.reduction,
                                               self.label_smoothing)
        self._cache = (cache, loss)
        return loss

    def backward(self, dloss: torch.Tensor | None = None) -> torch.Tensor:
        """dloss defaults to 1 (d loss / d loss), as `loss.backward()` assumes for a scalar."""
        cache, loss = self._take_cache()
        if dloss is None:
            if self.reduction == "none":
                raise ValueError("dloss: required when reduction='none' (one value per sample)")
            dloss = torch.ones_like(loss)
        return MF.cross_entropy_backward(dloss, cache)


class Sequential(Layer):
    """Layers applied in order; backward walks them in reverse. Named like nn.Sequential's OrderedDict."""

    def __init__(self, layers: "OrderedDict[str, Layer]"):
        super().__init__()
        for name, layer in layers.items():
            self.add_module(name, layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = layer(x)
        return x

    def backward(self, dout: torch.Tensor, need_input_grad: bool = True, grads_ready=None) -> torch.Tensor | None:
        """Returns d(loss)/d(input), or None when `need_input_grad` is False (skips one GEMM).
        `grads_ready(params)`, where given, is called as soon as a layer's parameter gradients are
        complete, last layer first (data-parallel training starts their all-reduce there)."""
        layers = list(self.children())
        for i, layer in enumerate(reversed(layers)):
            first = i == len(layers) - 1
            if first and not need_input_grad and isinstance(layer, Linear):
                dout = layer.backward(dout, need_dx=False)
            else:
                dout = layer.backward(dout)
            params = list(layer.parameters())
            if grads_ready is not None and params:
                grads_ready(params)
        return dout
