"""Benchmarks: `pytest benchmarks` times them; `pytest benchmarks --benchmark-disable` runs each once.

Speed never fails a run here: these measure, the tests in tests/ judge correctness. CUDA cases run
only where a GPU is, and synchronise inside the timed call.
"""
import os
from pathlib import Path

import pytest
import torch

_CACHE = Path(__file__).resolve().parents[1] / ".cache"
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(_CACHE / "inductor"))

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def pytest_report_header(config):
    return f"torch {torch.__version__}, {torch.get_num_threads()} threads, cuda={torch.cuda.is_available()}"


@pytest.fixture
def sync():
    """Call after the work inside a timed function: waits for the GPU where there is one."""
    return torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
