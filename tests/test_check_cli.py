"""`minitorch-clf check`: an all-pass table, exit codes, and a failing row really fails."""
import pytest
import torch

from minitorch_clf import checks
from minitorch_clf.cli import main


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_check_all_pass(dtype, capsys):
    assert main(["check", "--dtype", dtype]) == 0
    out = capsys.readouterr().out
    assert "max rel err" in out and " NO" not in out
    assert "0 failed" in out
    for layer in ("linear", *checks.MF.ACTIVATIONS, "ce class", "ce probs", "simplenet"):
        assert layer in out


def test_check_exits_1_on_a_wrong_gradient(monkeypatch, capsys):
    forward, real = checks.MF.ACTIVATIONS["relu"]
    monkeypatch.setitem(checks.MF.ACTIVATIONS, "relu", (forward, lambda dout, cache: real(dout, cache) * 1.001))
    assert main(["check"]) == 1
    assert " NO" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_check_cuda_without_gpu_is_one_line_exit_2(capsys):
    assert main(["check", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cuda" in err


def test_check_bad_dtype(capsys):
    assert main(["check", "--dtype", "float16"]) == 2
    assert "dtype" in capsys.readouterr().err
