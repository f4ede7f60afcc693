"""Argument checks shared by the hand-written layers.

Every message names the argument, what was expected and what was received, and every check runs
before any computation or state change. Nothing here broadcasts or converts silently.
"""
from __future__ import annotations

import torch


def require_tensor(name: str, t) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")


def require_float(name: str, t: torch.Tensor) -> None:
    require_tensor(name, t)
    if not t.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {t.dtype}")


def require_rank(name: str, t: torch.Tensor, ranks: tuple[int, ...], what: str) -> None:
    """`what` spells the expected shape for the message, e.g. '(N, in_features)'."""
    if t.dim() not in ranks:
        raise ValueError(f"{name}: expected shape {what}, got {tuple(t.shape)}")


def require_like(name: str, t: torch.Tensor, ref_name: str, ref: torch.Tensor) -> None:
    """Same dtype and device as `ref`: mixing them would make torch promote or fail later."""
    if t.dtype != ref.dtype:
        raise TypeError(f"{name}: expected dtype {ref.dtype} (that of {ref_name}), got {t.dtype}")
    if t.device != ref.device:
        raise ValueError(f"{name}: expected device {ref.device} (that of {ref_name}), got {t.device}")


def require_grad_like(name: str, g, shape: tuple[int, ...], ref: torch.Tensor) -> None:
    """An upstream gradient: exactly `shape`, and the dtype and device of the forward's `ref`
    (a backward never broadcasts or converts it)."""
    require_tensor(name, g)
    if tuple(g.shape) != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)} (the forward's output), got {tuple(g.shape)}")
    require_like(name, g, "the forward's input", ref)
