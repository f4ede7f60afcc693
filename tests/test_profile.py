"""`minitorch-clf profile`: the trace is written, parses as JSON, and holds the four phase labels."""
import json

import pytest

from minitorch_clf.cli import main
from minitorch_clf.engines import PHASES


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


def test_profile_prints_no_log_lines_of_the_profiler_library(tmp_path, capfd, monkeypatch):
    # kineto's own lines (USDT markers; "gpuGetDeviceCount failed" on a CUDA build without a GPU) are
    # written to the process's stderr, not through Python: capfd reads the file descriptor
    monkeypatch.delenv("KINETO_LOG_LEVEL", raising=False)
    assert main(["profile", "--engine", "manual", "--steps", "1", "--out", str(tmp_path / "prof")]) == 0
    err = capfd.readouterr().err
    assert "USDT" not in err and "gpuGetDeviceCount" not in err and "ERROR" not in err, err


def test_profile_bad_engine(capsys):
    assert main(["profile", "--engine", "nope"]) == 2
    assert "engine" in capsys.readouterr().err


def test_profile_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["profile", "--out", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out" in err
