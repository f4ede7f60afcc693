"""The training job: run folder, accuracy, resume, the side-by-side claim, and bad input."""
import json
import os

import pytest
import torch

from minitorch_clf.cli import main
from minitorch_clf.train import TrainConfig, compare, relative_gap, train


def quiet(*args, **kw):
    pass


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.01), ("adam", 1e-3)])
def test_manual_follows_reference_step_for_step(optimizer, lr):
    """The core claim: same seed, weights and batches -> per-step losses within 1e-5 relative."""
    cfg = TrainConfig(optimizer=optimizer, lr=lr, epochs=1)
    losses = compare(cfg, ["reference", "manual"])
    assert len(losses["manual"]) == 63                                    # 4000 / 64, last batch partial
    assert max(relative_gap(losses["manual"], losses["reference"])) < 1e-5
    assert losses["manual"][-1] < losses["manual"][0]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["fused", "compiled", "compiled-reference"])
def test_fast_engines_follow_reference_over_an_epoch(engine):
    """Each fast engine's per-step losses stay within 1e-5 relative of the seed's over one epoch."""
    losses = compare(TrainConfig(optimizer="sgd", lr=0.01, epochs=1), ["reference", engine])
    assert len(losses[engine]) == 63
    assert max(relative_gap(losses[engine], losses["reference"])) < 1e-5


@pytest.mark.slow
def test_accuracy_adam_10_epochs(tmp_path):
    result = train(TrainConfig(epochs=10), tmp_path / "run", progress=False, log=quiet)
    assert result.metrics[-1]["test_accuracy"] >= 0.92


def test_run_folder_contents(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--out", str(out), "--no-progress"]) == 0
    assert {p.name for p in out.iterdir()} == {"config.json", "metrics.jsonl", "curves.png", "checkpoint.pt", ".lock"}
    mask = os.umask(0)
    os.umask(mask)
    assert all(p.stat().st_mode & 0o777 == 0o666 & ~mask for p in out.iterdir())   # as open() makes them, not 0600
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert {"epoch", "train_loss", "test_loss", "test_accuracy", "seconds"} <= set(rows[0])
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "config.json").read_text())["engine"] == "manual"
    printed = capsys.readouterr().out
    assert "epoch   2" in printed and "test acc" in printed
    assert main(["evaluate", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "confusion matrix" in shown and f"{100 * rows[-1]['test_accuracy']:.2f}%" in shown


@pytest.mark.slow
@pytest.mark.parametrize("engine,optimizer", [("manual", "adam"), ("reference", "sgd")])
def test_resume_is_bit_identical(tmp_path, engine, optimizer):
    cfg = TrainConfig(engine=engine, optimizer=optimizer, lr=0.01, epochs=3, batch_size=128)
    straight = train(cfg, tmp_path / "a", progress=False, log=quiet)
    first = train(TrainConfig(**{**cfg.__dict__, "epochs": 1}), tmp_path / "b", progress=False, log=quiet)
    rest = train(cfg, tmp_path / "b", resume=True, progress=False, log=quiet)
    assert first.step_losses + rest.step_losses == straight.step_losses
    assert [m["epoch"] for m in rest.metrics] == [1, 2, 3]
    assert len((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()) == 3


def test_resume_from_cli_extends_epochs(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--batch-size", "256", "--out", str(out), "--no-progress"]) == 0
    assert main(["train", "--resume", str(out), "--epochs", "2", "--no-progress"]) == 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2


def test_compare_cli_prints_side_by_side(capsys):
    assert main(["train", "--compare", "reference,manual", "--epochs", "1", "--batch-size", "500"]) == 0
    out = capsys.readouterr().out
    assert "reference" in out and "manual" in out and "largest relative difference" in out


@pytest.mark.parametrize("args,words", [
    (["--dataset", "cifar"], ["dataset", "cifar"]),
    (["--engine", "tpu"], ["engine", "tpu"]),
    (["--engine", "graphed-reference"], ["engine: graphed-reference", "CUDA graph", "not on cpu"]),
    (["--optimizer", "lbfgs"], ["optimizer", "lbfgs"]),
    (["--lr", "0"], ["lr"]),
    (["--lr", "-1"], ["lr"]),
    (["--epochs", "0"], ["epochs"]),
    (["--batch-size", "-3"], ["batch-size"]),
    (["--loader", "magic"], ["loader"]),
    (["--epochs", "two"], ["--epochs", "two"]),
    (["--compare", "reference,nope"], ["engine", "nope"]),
])
def test_bad_arguments_one_line_exit_2(tmp_path, capsys, args, words):
    out = tmp_path / "run"
    assert_fails(["train", *args, "--out", str(out)], words, capsys)
    assert not out.exists()                                              # nothing half-written


def assert_fails(argv, words, capsys):
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(argv))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("minitorch-clf: error:"), err
    for w in words:
        assert w in err, (w, err)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu(tmp_path, capsys):
    assert_fails(["train", "--device", "cuda", "--out", str(tmp_path / "r")], ["cuda"], capsys)
    assert not (tmp_path / "r").exists()


def test_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    assert_fails(["train", "--epochs", "1", "--out", str(blocker / "run")], ["out", str(blocker)], capsys)


def test_resume_missing_and_corrupt(tmp_path, capsys):
    assert_fails(["train", "--resume", str(tmp_path / "none")], ["run", "none", "missing"], capsys)
    (tmp_path / "empty").mkdir()
    assert_fails(["train", "--resume", str(tmp_path / "empty")], ["config.json"], capsys)
    run = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--batch-size", "500", "--out", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    (run / "checkpoint.pt").write_bytes(b"\x00garbage")
    before = (run / "metrics.jsonl").read_text()
    assert_fails(["train", "--resume", str(run), "--epochs", "2"], ["checkpoint", "not a readable"], capsys)
    assert (run / "metrics.jsonl").read_text() == before
    (run / "checkpoint.pt").unlink()
    assert_fails(["train", "--resume", str(run)], ["no checkpoint"], capsys)
    assert_fails(["evaluate", str(run)], ["no checkpoint"], capsys)


def test_the_progress_bar_counts_batches(tmp_path, capsys, monkeypatch):
    """Every time the bar shows the loss (each 10th batch) it shows the batches done with it. With tqdm's own
    timer held off, the bar that wrapped the loader's iterator showed 0/63 throughout."""
    import functools

    import tqdm

    monkeypatch.setattr(tqdm, "tqdm", functools.partial(tqdm.tqdm, mininterval=1000, maxinterval=1000))
    train(TrainConfig(epochs=1), tmp_path / "run", progress=True, log=quiet)
    frames = [f for f in capsys.readouterr().err.split("\r") if "loss=" in f]
    counts = [f.split("|")[-1].split("[")[0].strip() for f in frames]
    assert counts == [f"{k}/63" for k in range(1, 64, 10)], frames
