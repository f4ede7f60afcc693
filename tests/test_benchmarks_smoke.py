"""Every benchmark runs once (pytest-benchmark's --benchmark-disable): they cannot rot unnoticed."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_benchmarks_run_once():
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "--benchmark-disable", "-q", "-p",
                           "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_gemm_micro_benchmark_builds_and_runs(tmp_path):
    """kernels/dev/gemm_micro.cpp (plain C++, no torch) with the build line its header gives: every
    kernel version passes its check against the scalar kernel, then is timed."""
    if shutil.which("g++") is None:
        pytest.skip("no g++ on PATH")
    exe = tmp_path / "gemm_micro"
    build = subprocess.run(["g++", "-O3", "-fopenmp", "-std=c++17", "-Ikernels/cpu/gemm", "kernels/dev/gemm_micro.cpp",
                            "kernels/cpu/gemm/gemm.cpp", "kernels/cpu/gemm/gemm_avx2.cpp", "kernels/cpu/gemm/gemm_avx512.cpp",
                            "-o", str(exe)], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert ("checked" in run.stdout and "cycles per FMA instruction" in run.stdout) or "no AVX2/FMA" in run.stdout
