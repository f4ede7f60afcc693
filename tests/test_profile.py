"""`minitorch-clf profile`: the trace is written, parses as JSON, and holds the four phase labels (or the one
call, with --whole-step); bad arguments are one line; on CUDA, Holistic Trace Analysis's summary, checked here
on a trace whose answers are known, and its failures one line each."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from minitorch_clf.cli import main
from minitorch_clf.engines import PHASES

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("engine", ["reference", "manual", "fused"])
def test_profile_trace_has_the_four_phases(tmp_path, capsys, engine):
    out = tmp_path / "prof"
    assert main(["profile", "--engine", engine, "--steps", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Self CPU" in printed and f"phases labelled: {', '.join(PHASES)}" in printed
    trace = json.loads((out / "trace.json").read_text())
    names = {e.get("name") for e in trace["traceEvents"]}
    assert set(PHASES) <= names
    assert list(out.glob("*.pt.trace.json")), "no tensorboard trace"


def test_profile_prints_no_log_lines_of_the_profiler_library(tmp_path):
    """kineto's own lines (USDT markers; "gpuGetDeviceCount failed" on a CUDA build without a GPU) go to the
    process's stderr, not through Python. Kineto reads its log level once, when the first profiler of a process
    starts, so the command runs in a fresh process, as a user's does (in pytest's own process an earlier test's
    profiler decided it)."""
    env = {k: v for k, v in os.environ.items() if k != "KINETO_LOG_LEVEL"}
    code = ("import sys; from minitorch_clf.cli import main; "
            f"sys.exit(main(['profile', '--engine', 'manual', '--steps', '1', '--out', {str(tmp_path / 'prof')!r}]))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "USDT" not in run.stderr and "gpuGetDeviceCount" not in run.stderr and "ERROR" not in run.stderr, run.stderr


def test_profile_whole_step_records_the_fused_step_as_one_call(tmp_path, capsys):
    out = tmp_path / "prof"
    assert main(["profile", "--engine", "fused", "--whole-step", "--steps", "2", "--out", str(out)]) == 0
    assert "phases labelled: none" in capsys.readouterr().out
    names = {e.get("name") for e in json.loads((out / "trace.json").read_text())["traceEvents"]}
    assert "minitorch_clf::mlp_sgd_step_" in names and not set(PHASES) & names


def test_profile_whole_step_records_the_fused_adam_step_as_one_call(tmp_path, capsys):
    out = tmp_path / "prof"
    assert main(["profile", "--engine", "fused", "--optimizer", "adam", "--whole-step", "--steps", "2", "--out",
                 str(out)]) == 0
    names = {e.get("name") for e in json.loads((out / "trace.json").read_text())["traceEvents"]}
    assert "minitorch_clf::mlp_adam_step_" in names and "step: adam update" in names and not set(PHASES) & names


@pytest.mark.parametrize("argv", [["--engine", "manual"], ["--engine", "reference", "--optimizer", "adam"]])
def test_profile_whole_step_of_an_engine_without_one_is_one_line(tmp_path, capsys, argv):
    assert main(["profile", *argv, "--whole-step", "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "whole-step" in err


def test_profile_bad_engine(capsys):
    assert main(["profile", "--engine", "nope"]) == 2
    assert "engine" in capsys.readouterr().err


def test_profile_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["profile", "--out", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out" in err


# ---- Holistic Trace Analysis of a CUDA trace (tools/hta_summary.py) -----------------------------------
# A Chrome trace written here, laid out as torch.profiler writes one on a GPU: per step a ProfilerStep#N
# range on the host, a cudaLaunchKernel per kernel (linked by correlation id), the kernels on stream 7,
# one device-to-device copy. Its answers follow from the layout: STEP_US apart, kernel k starts at
# 8 + 6k us into its step and lasts 3 + k us, the copy lasts 2 us at 40 us.
STEPS, KERNELS, STEP_US = 4, 4, 100.0


def _gpu_trace(path):
    events, corr, t = [], 1, 1000.0
    for step in range(STEPS):
        events.append({"ph": "X", "cat": "user_annotation", "name": f"ProfilerStep#{step + 3}", "pid": 1, "tid": 1,
                       "ts": t - 1, "dur": 60})
        launches = [(f"gemm_kernel_{k}", "kernel", 8 + 6 * k, 3 + k) for k in range(KERNELS)]
        for name, cat, start, dur in launches + [("Memcpy DtoD (Device -> Device)", "gpu_memcpy", 40, 2)]:
            events.append({"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1,
                           "ts": t + start - 7, "dur": 4, "args": {"correlation": corr}})
            events.append({"ph": "X", "cat": cat, "name": name, "pid": 0, "tid": 7, "ts": t + start, "dur": dur,
                           "args": {"correlation": corr, "stream": 7, "device": 0}})
            corr += 1
        t += STEP_US
    path.write_text(json.dumps({"schemaVersion": 1, "traceEvents": events}))
    return path


def test_kernel_count_leaves_out_the_last_step_as_hta_does(tmp_path):
    from minitorch_clf.tools.hta_summary import kernel_count

    trace = json.loads(_gpu_trace(tmp_path / "t.json").read_text())
    assert kernel_count(trace) == (KERNELS * (STEPS - 1), STEPS - 1)
    one_step = {"traceEvents": [e for e in trace["traceEvents"]
                                if not e["name"].startswith("ProfilerStep#") or e["name"] == "ProfilerStep#3"]}
    assert kernel_count(one_step) == (KERNELS * STEPS, 1)


def test_hta_summary_of_a_trace_whose_answers_are_known(tmp_path):
    pytest.importorskip("hta")
    from minitorch_clf.tools import hta_summary

    s = hta_summary.summarize(_gpu_trace(tmp_path / "t.json"))
    read = STEPS - 1                                           # HTA leaves the last step out
    kernel_us = sum(3 + k for k in range(KERNELS))
    span = (read - 1) * STEP_US + 42 - 8                       # first kernel's start to the last copy's end
    assert s["span_us"] == span
    assert s["compute_us"] == read * kernel_us and s["non_compute_us"] == read * 2
    assert s["idle_us"] == span - read * (kernel_us + 2)
    # HTA's rule: a gap is the host's when the next kernel was launched after the one before it ended,
    # the kernels' otherwise (under 30 us); the gaps between steps are all the host's
    starts = [8 + 6 * k for k in range(KERNELS)] + [40]
    ends = [8 + 6 * k + 3 + k for k in range(KERNELS)] + [42]
    host = sum(starts[i + 1] - ends[i] for i in range(KERNELS) if starts[i + 1] - 7 >= ends[i])
    queued = sum(starts[i + 1] - ends[i] for i in range(KERNELS) if starts[i + 1] - 7 < ends[i])
    assert host and queued                                     # the trace has both kinds
    assert s["idle"] == {"stream": 7, "kernel_wait": read * queued,
                         "host_wait": read * host + (read - 1) * (STEP_US - 42 + 8), "other": 0.0}
    top = {k["name"]: (k["sum_us"], k["count"]) for k in s["top"]}
    assert top["gemm_kernel_3"] == (read * 6, read) and top["gemm_kernel_0"] == (read * 3, read)
    assert (s["kernels"], s["steps"]) == (KERNELS * read, read)
    printed = "\n".join(hta_summary.lines(s))
    assert f"GPU kernels: {KERNELS * read} in the {read} steps" in printed and "(4.0 a step)" in printed


def test_hta_absent_or_failing_is_one_line(tmp_path, monkeypatch):
    from minitorch_clf.tools import hta_summary, profiling

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    cpu_only = tmp_path / "cpu.json"
    cpu_only.write_text(json.dumps({"traceEvents": [{"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 1, "dur": 2}]}))
    odd = tmp_path / "odd.json"                   # a kernel whose start is not a number: HTA's child fails
    odd.write_text(json.dumps({"traceEvents": [
        {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 1, "dur": 1, "args": {"correlation": 1}},
        {"ph": "X", "cat": "kernel", "name": "k", "ts": "late", "dur": 2, "args": {"correlation": 1, "stream": 7}}]}))
    if hta_summary.installed():
        for trace, says in ((bad, "could not read"), (cpu_only, "holds no GPU kernel"), (odd, "HTA could not analyse")):
            lines = profiling._hta_lines(trace)
            assert len(lines) == 1 and lines[0].startswith("HTA summary: ") and says in lines[0] and str(trace) in lines[0]
    monkeypatch.setattr(hta_summary, "installed", lambda: False)
    lines = profiling._hta_lines(_gpu_trace(tmp_path / "t.json"))
    assert lines == ["HTA summary: holistictraceanalysis is not installed (pip install -e '.[profile]' adds it)"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_profile_on_cuda_prints_htas_summary_or_why_not(tmp_path, capsys):
    from minitorch_clf.tools import hta_summary

    assert main(["profile", "--engine", "fused", "--device", "cuda", "--steps", "4", "--out", str(tmp_path / "p")]) == 0
    printed = capsys.readouterr().out
    if hta_summary.installed():
        assert "HTA (holistictraceanalysis" in printed and "GPU kernels:" in printed and "in the 3 steps" in printed
    else:
        assert "HTA summary: holistictraceanalysis is not installed" in printed
