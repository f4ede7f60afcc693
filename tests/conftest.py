"""Test-wide settings and tiers.

torch.compile's caches and temporary files go to the project's .cache/. Tiers (markers, pyproject.toml):
  kernels  needs the C++ kernels of kernels/cpu: every test of test_ops.py, test_gemm.py,
           test_cuda_kernels.py, test_cuda_emulation.py and test_benchmarks_smoke.py, and every test
           with "fused" in its id.
           The kernels are built once, before the first such test; where they cannot be built (no
           compiler) those tests are skipped with the reason, and the rest still run.
  slow     takes seconds: subprocesses, training runs, the benchmarks (marked where they are), and
           every test with "compiled" in its id (torch.compile).
  gpu      needs a CUDA GPU (skipped without one).
A learner's fast subset: pytest -m "not slow and not kernels". CI runs everything.
"""
import os
from pathlib import Path

_CACHE = Path(__file__).resolve().parents[1] / ".cache"
_CACHE.mkdir(exist_ok=True)
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(_CACHE / "inductor"))
# The GEMM's derived plans throughout (no search at the first fused step, no cache read): the tests of
# the tuner (test_tune.py) turn it on for themselves, with a cache of their own.
os.environ.setdefault("MINITORCH_CLF_TUNE", "0")
os.environ.setdefault("TMPDIR", str(_CACHE / "tmp"))
Path(os.environ["TMPDIR"]).mkdir(parents=True, exist_ok=True)

KERNEL_MODULES = {"test_ops.py", "test_gemm.py", "test_cuda_kernels.py", "test_cuda_emulation.py",
                  "test_benchmarks_smoke.py"}
GPU_MODULES = {"test_cuda.py", "test_cuda_kernels.py"}


def pytest_collection_modifyitems(config, items):
    import pytest

    for item in items:
        if item.path.name in KERNEL_MODULES or "fused" in item.name:
            item.add_marker(pytest.mark.kernels)
        if item.path.name in GPU_MODULES:
            item.add_marker(pytest.mark.gpu)
        if "compiled" in item.name:                         # torch.compile takes seconds per graph
            item.add_marker(pytest.mark.slow)


_built: dict = {}


def pytest_runtest_setup(item):
    """Build (or load) the CPU kernels once, before the first test that needs them."""
    if item.get_closest_marker("kernels") is None:
        return
    import pytest

    if not _built:
        from minitorch_clf import ops

        try:
            ops.load()
            _built["done"] = True
        except ops.BuildError as e:
            _built["error"] = str(e)
    if "error" in _built:
        pytest.skip(f"the kernels cannot be built here: {_built['error']}")
