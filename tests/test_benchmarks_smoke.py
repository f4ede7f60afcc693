"""Every benchmark runs once (pytest-benchmark's --benchmark-disable): they cannot rot unnoticed."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def test_benchmarks_run_once():
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "--benchmark-disable", "-q", "-p",
                           "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def _build_dev(tool: str, tmp_path) -> Path:
    """kernels/dev/<tool>.cpp (plain C++, no torch) built by kernels/dev/Makefile."""
    if shutil.which("g++") is None or shutil.which("make") is None:
        pytest.skip("no g++ or make on PATH")
    exe = tmp_path / tool
    build = subprocess.run(["make", "-C", "kernels/dev", f"OUT={tmp_path}", str(exe)], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    return exe


def test_gemm_micro_benchmark_builds_and_runs(tmp_path):
    """kernels/dev/gemm_micro.cpp (plain C++, no torch) built by kernels/dev/Makefile: every
    kernel version passes its check against the scalar kernel, then is timed."""
    run = subprocess.run([str(_build_dev("gemm_micro", tmp_path))], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert ("checked" in run.stdout and "cycles per FMA instruction" in run.stdout) or "no AVX2/FMA" in run.stdout


def test_gemm_step_benchmark_checks_every_product_and_refuses_bad_arguments(tmp_path):
    """kernels/dev/gemm_step.cpp: the eight products of a step at batch 7 (fewer rows than a register
    tile) pass their check against the scalar kernel before they are timed, in float32 and on each bf16
    kernel (against the scalar kernel on rounded operands, and on AMX with each input paired ahead; a kernel
    the CPU lacks is one line, exit 2 - the AMX one crashed the process before gemm.cpp asked Linux for the
    tiles itself); a bad batch, ISA or kernel is one line, exit 2."""
    from minitorch_clf import ops

    exe = _build_dev("gemm_step", tmp_path)
    run = subprocess.run([str(exe), "7"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.count("checked") == 8 and "all eight back to back" in run.stdout
    for kernel in ("amx", "avx512bf16", "fma"):
        run = subprocess.run([str(exe), "7", "auto", kernel], capture_output=True, text=True, timeout=300)
        if kernel in ops.bf16_kernels():
            assert run.returncode == 0 and run.stdout.count("checked") == 8, run.stdout[-3000:] + run.stderr[-3000:]
            # AMX: each layer's input paired once for its two products (Bf16Pairs) gives packing's bits
            assert run.stdout.count("the same bits as packed per call") == (3 if kernel == "amx" else 0), run.stdout
        else:
            assert run.returncode == 2 and run.stderr == f"this CPU cannot run the bf16 kernel {kernel}\n"
    for args in (["0"], ["64", "sse"], ["64", "auto", "fp8"]):
        bad = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1, (args, bad.stderr)


def test_step_pieces_names_every_piece_with_its_layer_and_refuses_bad_input_in_one_line(tmp_path):
    """benchmarks/step_pieces.py: the one-call step's profiler scopes, each with its time, a product's with its
    layer's, and in float32 the eight products' time at the FMA peak; --precision bf16 too; --plot draws a PNG
    with a bar a batch; a bad precision, batch or plot folder: one line, exit 2, before anything is timed."""
    for precision in ("float32", "bf16"):
        plot = tmp_path / f"pieces-{precision}.png"
        run = subprocess.run([sys.executable, "benchmarks/step_pieces.py", "--precision", precision, "--plot", str(plot),
                              "8", "200"], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        assert f"products in {precision}" in run.stdout, run.stdout
        for piece in ("step: fc1 forward", "step: cross-entropy", "step: fc1 backward / dW product",
                      "step: fc2 backward / dx product", "step: sgd update", "outside the products"):
            assert piece in run.stdout, run.stdout
        assert ("the eight products at the FMA peak" in run.stdout) == (precision == "float32"), run.stdout
        assert plot.read_bytes().startswith(b"\x89PNG") and f"wrote {plot}" in run.stdout
    for bad in (["--precision", "fp8", "8"], ["0"], ["eight"], ["--plot", str(tmp_path / "no" / "such.png"), "8"]):
        run = subprocess.run([sys.executable, "benchmarks/step_pieces.py", *bad], cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 2 and run.stderr.startswith("step_pieces: ") and run.stderr.count("\n") == 1, \
            (bad, run.stderr)


def test_step_pieces_draws_no_ideal_a_step_has_beaten():
    """step_pieces.ideal_us: the eight products' time at the measured peak (SimpleNet at 64: 29.0 MFLOP, 145 us
    at 200 GFLOP/s), and None where the step took less than that: a peak read at half (a core shared, as a first
    reading on 2 cores can be) would otherwise mark an ideal past the step's end."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("step_pieces", ROOT / "benchmarks" / "step_pieces.py")
    sp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sp)
    flops = sp.CONFIG.flops_per_sample() * 64
    assert sp.ideal_us(64, 200.0, 300.0) == pytest.approx(flops / 200e3)
    assert 140 < sp.ideal_us(64, 200.0, 300.0) < 150
    assert sp.ideal_us(64, 100.0, 200.0) is None           # 290 us at the half-read peak: past the 200 us step


def test_step_pieces_leaves_add_up_to_the_step_in_the_order_it_runs():
    """step_pieces.leaves: the scopes that hold no other scope plus the rest (a layer's time outside its inner
    scopes, the step's outside every scope) add up to the whole step, each parent counted once; the plot's order
    is the step's: the forwards, the rows-cut layers, the loss, the backwards from fc3 down, the update, the rest."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("step_pieces", ROOT / "benchmarks" / "step_pieces.py")
    sp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sp)
    t = {"step: fc1 forward": 30.0, "step: cross-entropy": 2.0, "step: fc1 backward": 50.0,
         "step: fc1 backward / dW product": 44.0, "step: fc1 backward / bias gradient": 3.0,
         "step: fc2 backward": 9.0, "step: fc2 backward / dx product": 4.0, "step: fc2 backward / dW product": 4.0,
         "step: sgd update": 5.0, "step: fc2 forward": 6.0, "step: layers after the first, rows cut": 1.0}
    got = sp.leaves(t, 110.0)
    assert "step: fc1 backward" not in got and "step: fc2 backward" not in got
    assert got[sp.REST] == pytest.approx(110.0 - 30 - 2 - 44 - 3 - 4 - 4 - 5 - 6 - 1)
    assert sum(got.values()) == pytest.approx(110.0)
    assert sp.leaves({"step: fc1 forward": 120.0}, 110.0)[sp.REST] == 0.0
    assert sorted(got, key=sp._order) == [
        "step: fc1 forward", "step: fc2 forward", "step: layers after the first, rows cut", "step: cross-entropy",
        "step: fc2 backward / dW product", "step: fc2 backward / dx product", "step: fc1 backward / bias gradient",
        "step: fc1 backward / dW product", "step: sgd update", sp.REST]


def test_bf16_gemm_benchmark_runs():
    run = subprocess.run([sys.executable, "benchmarks/bf16_gemm.py", "8"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("bf16") >= 5 and "whole SGD step" in run.stdout


def test_precision_curves_plots_each_run_and_refuses_a_missing_data_set_in_one_line(tmp_path):
    """benchmarks/precision_curves.py: one epoch of two runs gives the plot and their metrics; full MNIST
    without its files (scripts/fetch_mnist.sh) and a bad precision are one line, exit 2."""
    out = tmp_path / "curves.png"
    run = subprocess.run([sys.executable, "benchmarks/precision_curves.py", str(out), "--epochs", "1", "--runs",
                          "manual:float32,manual:bf16"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = json.loads(out.with_suffix(".json").read_text())
    assert list(metrics) == ["manual:float32", "manual:bf16"] and out.stat().st_size > 0
    assert metrics["manual:float32"][-1]["test_accuracy"] != metrics["manual:bf16"][-1]["test_accuracy"] or \
        metrics["manual:float32"][-1]["train_loss"] != metrics["manual:bf16"][-1]["train_loss"]
    for args in (["--dataset", "mnist", "--data-dir", str(tmp_path / "none")], ["--runs", "manual:fp8"]):
        bad = subprocess.run([sys.executable, "benchmarks/precision_curves.py", str(out), "--epochs", "1", *args],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1, (args, bad.stderr[-2000:])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where no GPU is present")
def test_gpu_one_kernel_refuses_a_machine_without_a_gpu_in_one_line():
    """benchmarks/gpu_one_kernel.py times CUDA graphs and kernels only: without a GPU (and with a bad batch
    size) one line, no traceback."""
    for args in ([], ["64", "x"]):
        run = subprocess.run([sys.executable, "benchmarks/gpu_one_kernel.py", *args], cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
        assert run.returncode == 2 and run.stderr.count("\n") == 1 and "gpu_one_kernel:" in run.stderr, run.stderr


def test_gpu_check_steps_keep_to_the_budget():
    """benchmarks/budget_steps.sh, gpu_check.sh's steps: a step runs under the lesser of its limit and what is
    left of the budget, a failure or a timeout is reported and the script goes on, and once the budget is spent
    each step is skipped with one line (a device call that outlives its 600 s returns no archive, no summary)."""
    script = f"""
BUDGET=100 RESERVE=0
source benchmarks/budget_steps.sh
step 1 sleep 5
LABEL="from stdin" step 30 {sys.executable} - <<'PY'
print("the script on stdin ran")
PY
step 30 false
SECONDS=95
step 30 sleep 10
in_time "the archive" || echo "no time for the archive"
echo "status $status; failed: ${{failed[*]}}; skipped: ${{out_of_time[*]}}"
"""
    run = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    out = run.stdout
    assert run.returncode == 0, run.stderr
    assert "TIMED OUT after 1 s: sleep 5" in out
    assert "=== from stdin" in out and "the script on stdin ran" in out
    assert "FAILED (1): false" in out
    assert "SKIPPED, the budget of 100 s is spent: sleep 10" in out and "no time for the archive" in out
    assert "status 1; failed: sleep 5 (timed out) false; skipped: sleep 10 the archive" in out


def test_gpu_check_refuses_a_bad_budget_in_one_line(tmp_path):
    """gpu_check.sh parses, and refuses GPU_CHECK_BUDGET that is not whole seconds >= 60 before it does anything."""
    assert subprocess.run(["bash", "-n", "benchmarks/gpu_check.sh"], cwd=ROOT).returncode == 0
    for budget in ("abc", "30", "1e3", "0600"):
        run = subprocess.run(["bash", "benchmarks/gpu_check.sh", str(tmp_path / "out")], cwd=ROOT, capture_output=True,
                             text=True, timeout=60, env={**os.environ, "GPU_CHECK_BUDGET": budget})
        assert run.returncode == 2 and run.stderr.count("\n") == 1 and "GPU_CHECK_BUDGET" in run.stderr, run.stderr
        assert not (tmp_path / "out").exists()
