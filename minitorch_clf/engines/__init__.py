"""Engines: one training step, several implementations, one interface (see base.py).

    from minitorch_clf.engines import build_engine, ENGINES
"""
from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import torch

from .. import optim as ours
from ..models import MLPConfig, ReferenceNet, SimpleNet
from .base import PHASES, Engine
from .compiled import CompiledManualEngine
from .compiled_reference import COMPILE_MODES, CompiledReferenceEngine
from .fused import FusedEngine
from .graphed_reference import GraphedReferenceEngine, optimizer_options as graphed_optimizer_options
from .jax_step import JaxEngine
from .manual import ManualEngine
from .reference import ReferenceEngine
from ..errors import expect_one_of

class EngineSpec(NamedTuple):
    engine: type[Engine]          # the step
    model: type[torch.nn.Module]  # SimpleNet (hand-written) or ReferenceNet (torch.nn)
    optim: object                 # where SGD / Adam / AdamW come from: torch.optim or minitorch_clf.optim
    optim_options: dict | Callable[[str], dict]   # extra keywords for them (fused=True for the fused engine),
                                                  # or a function of the optimizer's name giving them


_REGISTRY = {
    "reference": EngineSpec(ReferenceEngine, ReferenceNet, torch.optim, {}),
    "manual": EngineSpec(ManualEngine, SimpleNet, ours, {}),
    "compiled": EngineSpec(CompiledManualEngine, SimpleNet, ours, {}),
    "compiled-reference": EngineSpec(CompiledReferenceEngine, ReferenceNet, torch.optim, {}),
    "fused": EngineSpec(FusedEngine, SimpleNet, ours, {"fused": True}),
}
ENGINES: tuple[str, ...] = tuple(_REGISTRY)
# Engines for a GPU only: train and bench take them there; the CPU's tests and checks, which cover ENGINES,
# do not. graphed-reference: the seed's step captured as one CUDA graph, the fused engine's GPU peer.
_GPU_ONLY = {"graphed-reference": EngineSpec(GraphedReferenceEngine, ReferenceNet, torch.optim,
                                             graphed_optimizer_options)}
GPU_ENGINES: tuple[str, ...] = tuple(_GPU_ONLY)
# Peers: what a user might pick instead, for the benchmarks side by side; built like the engines, not
# part of ENGINES (training, checks and the engine tests cover ENGINES).
_PEERS = {"jax": EngineSpec(JaxEngine, SimpleNet, ours, {})}
PEERS: tuple[str, ...] = tuple(_PEERS)
COMPILED = ("compiled", "compiled-reference")
OPTIMIZERS: tuple[str, ...] = tuple(ours.REGISTRY)


def resolve_device(device) -> torch.device:
    """'auto' -> cuda when available; 'cuda' without a GPU is a ValueError naming the argument."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    asked = device
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ValueError(f"device: expected cpu, cuda or auto, got {str(asked)!r}")
    if device.type == "cpu":                     # tensors on the CPU report plain cpu: cpu:1 matched none
        if device.index not in (None, 0):
            raise ValueError(f"device: the CPU takes no index (cpu is all its cores), got {str(device)!r}")
        return torch.device("cpu")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device: cuda was asked for but no CUDA GPU is available (use --device cpu)")
        if device.index is None:                 # tensors report cuda:0, never plain cuda
            device = torch.device("cuda", torch.cuda.current_device())
        if device.index >= torch.cuda.device_count():
            raise ValueError(f"device: {device} asked for, but this machine has {torch.cuda.device_count()} GPU(s)")
    return device


def make_optimizer(module, name: str, params, lr: float, momentum: float = 0.0,
                   weight_decay: float | None = None, **options):
    """An optimizer of ours.REGISTRY from `module` (torch.optim or minitorch_clf.optim), same arguments for
    both; `momentum` goes to the ones that take it (SGD), `weight_decay` when given."""
    expect_one_of("optimizer", name, OPTIMIZERS)
    kw = dict(options) if weight_decay is None else {"weight_decay": weight_decay, **options}
    if ours.takes_momentum(name):
        kw["momentum"] = momentum
    return getattr(module, ours.REGISTRY[name][0])(params, lr=lr, **kw)


ROUNDING_ENGINES = ("reference", "manual", "compiled", "compiled-reference", "graphed-reference")   # bf16 / tf32 anywhere they run


def check_precision(precision: str, engine: str, device: torch.device, dtype: torch.dtype) -> None:
    """ValueError naming `precision` where this engine, device and dtype cannot run it. `fused` runs bf16 on
    any CPU (its GEMM's bf16 kernels: AMX, AVX512-BF16, or rounded copies on the float32 kernels) and bf16 and
    tf32 on a GPU (cuBLASLt's tensor cores), `jax` bf16 on the CPU (XLA's bf16 products); the
    ROUNDING_ENGINES run bf16 and tf32 wherever torch does."""
    if precision == "float32":
        return
    if dtype != torch.float32:
        raise ValueError(f"precision: {precision} rounds the operands of float32 products; with dtype {dtype} "
                         "use precision float32")
    if engine not in ROUNDING_ENGINES:
        if (precision == "bf16" and device.type == "cpu") or (engine == "fused" and device.type == "cuda"):
            return                                  # fused and jax; fused on cuBLASLt's tensor cores
        if engine != "fused":
            raise ValueError(f"precision: the {engine} engine runs float32 products, and bf16 on a CPU (its "
                             f"{precision} kernels are not built); {', '.join(ROUNDING_ENGINES)} run {precision}")
    if precision == "tf32" and device.type != "cuda":
        raise ValueError("precision: tf32 is the format NVIDIA tensor cores read float32 products in (a GPU's); "
                         "on the CPU use float32 or bf16")


def check_engine_device(engine: str, device: torch.device) -> None:
    """ValueError naming the engine where it cannot run on `device`: GPU_ENGINES need a GPU."""
    if engine in GPU_ENGINES and device.type != "cuda":
        raise ValueError(f"engine: {engine} captures the seed's step as a CUDA graph and runs on a GPU (device "
                         f"cuda), not on {device.type}")


def build_engine(name: str, optimizer: str = "sgd", lr: float = 0.01, momentum: float | None = None,
                 weight_decay: float | None = None, device="cpu", dtype: torch.dtype = torch.float32,
                 seed: int = 0, config: MLPConfig = MLPConfig(), compile_mode: str | None = None,
                 activation: str | None = None, precision: str | None = None) -> Engine:
    """An engine with freshly initialised weights: the same seed gives the same weights in every engine.

    `activation` (a name of functional.ACTIVATIONS) and `precision` (of the products' inputs:
    functional.PRECISIONS) replace the config's (default relu, float32); `compile_mode` (torch.compile's
    mode) applies to the compiled engines only. `momentum` is SGD's (default 0.9, the seed's); given with an
    optimizer that takes none it is a ValueError, not dropped.
    """
    if activation is not None:
        config = dataclasses.replace(config, activation=activation)
    if precision is not None:
        config = dataclasses.replace(config, precision=precision)
    expect_one_of("engine", name, ENGINES + GPU_ENGINES + PEERS)
    expect_one_of("optimizer", optimizer, OPTIMIZERS)
    if not ours.takes_momentum(optimizer) and momentum is not None:
        raise ValueError(f"momentum: SGD's; {optimizer} takes none, got {momentum} (leave it out)")
    momentum = 0.9 if momentum is None else momentum
    if not lr > 0:
        raise ValueError(f"lr: expected a positive learning rate, got {lr}")
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype: expected torch.float32 or torch.float64, got {dtype}")
    device = resolve_device(device)
    check_engine_device(name, device)
    check_precision(config.precision, name, device, dtype)
    spec = _REGISTRY.get(name) or _GPU_ONLY.get(name) or _PEERS[name]
    with torch.random.fork_rng(devices=[]):          # initialise on the CPU from `seed`, globals untouched
        torch.manual_seed(seed)
        model = spec.model(config)
    model = model.to(device=device, dtype=dtype)
    optim_options = spec.optim_options(optimizer) if callable(spec.optim_options) else spec.optim_options
    opt = make_optimizer(spec.optim, optimizer, model.parameters(), lr, momentum, weight_decay, **optim_options)
    options = {} if compile_mode is None else {"compile_mode": compile_mode}
    if options and spec.engine.name not in COMPILED:
        raise ValueError(f"compile_mode: only for the compiled engines ({', '.join(COMPILED)}), not {name!r}")
    return spec.engine(model, opt, config, device, dtype, **options)


__all__ = ["COMPILE_MODES", "COMPILED", "ENGINES", "GPU_ENGINES", "ROUNDING_ENGINES", "check_engine_device", "check_precision", "OPTIMIZERS", "PEERS", "PHASES", "Engine", "build_engine", "make_optimizer", "resolve_device"]
