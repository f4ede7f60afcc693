"""Benchmarks: `pytest benchmarks` times them; `pytest benchmarks --benchmark-disable` runs each once.

Speed never fails a run here: these measure, the tests in tests/ judge correctness.
"""
import torch


def pytest_report_header(config):
    return f"torch {torch.__version__}, {torch.get_num_threads()} threads, cuda={torch.cuda.is_available()}"
