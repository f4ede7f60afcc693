"""Data parallel on 2 gloo processes: N ranks at batch B follow one process at batch N x B (per-step
losses, final weights, optimizer state), for reference (DDP), manual and fused, with and without
ZeRO-1; the hand-written buckets and DDP average to the same gradients; train --nproc end to end
(resume with another N); a rank that dies or hangs ends the others with one line; bad arguments."""
import contextlib
import functools
import json
import time

import pytest
import torch

import dp_worker as W
from minitorch_clf import data as D
from minitorch_clf import distributed as DP
from minitorch_clf.cli import main

pytestmark = pytest.mark.slow
N = 2


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("dp") / "results.pt"
    assert DP.launch(N, "gloo", 60, functools.partial(W.all_configs, str(out), 1.0)) == 0
    return torch.load(out, weights_only=False)


def _one_process(engine, dtype, optimizer):
    eng = W.build(engine, dtype, optimizer)
    losses = W.run_steps(eng, D.TensorLoader(W.dataset(), W.BATCH * N, seed=1, dtype=dtype), W.STEPS)
    return losses, eng


@pytest.mark.parametrize("config", list(W.configs()), ids=lambda c: f"{c[0]}{'-zero1' if c[1] else ''}-{c[2]}-{c[3]}")
def test_ranks_follow_one_process_on_the_global_batch(ranks, config):
    engine, zero1, dtype, optimizer = config
    got = ranks["results"][(engine, zero1, str(dtype), optimizer)]
    assert got["all_reduce"] == (engine != "reference" and not zero1)     # ZeRO-1 reduce-scatters instead
    losses, eng = _one_process(engine, dtype, optimizer)
    rtol = 1e-6 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(torch.tensor(got["losses"]), torch.tensor(losses), rtol=rtol, atol=0)
    for name, w in eng.model.state_dict().items():
        torch.testing.assert_close(got["weights"][name], w, rtol=rtol, atol=1e-7 if dtype == torch.float64 else 1e-6)
    # the optimizer state, gathered from the shards under ZeRO-1, is the replicated optimizer's
    mine = eng.optimizer.state_dict()["state"]
    theirs = got["optimizer"]["state"]
    assert sorted(theirs) == sorted(mine)
    for i in mine:
        for key, value in mine[i].items():
            if torch.is_tensor(value):
                torch.testing.assert_close(theirs[i][key].to(value.dtype), value, rtol=rtol, atol=1e-7)


def test_hand_written_buckets_average_like_ddp(ranks):
    g = ranks["grads"]
    buckets = g["buckets"]
    assert [n for b in buckets for n in b][:2] == ["fc3.weight", "fc3.bias"]        # backward's order
    assert len(buckets) >= 2                                                         # 1 KiB buckets: several
    for bucket in buckets:
        ours = torch.cat([g["manual"][n].flatten() for n in bucket])
        ddp = torch.cat([g["reference"][n].flatten() for n in bucket])
        torch.testing.assert_close(ours, ddp, rtol=1e-12, atol=1e-15)


def test_shards_cover_each_global_batch():
    """Rank r takes rows [r s, (r + 1) s) of each global batch; the last one splits evenly, its
    m mod N leftover rows and a last batch under N rows are not trained on."""
    split = W.dataset(103)                                    # global batch 3 x 10: 3 full + 13 rows
    loader = D.TensorLoader(split, 30, seed=1)
    worlds = [DP.World(r, 3, r, "gloo", 1) for r in range(3)]
    shards = [list(DP.ShardLoader(loader, w).epoch(0)) for w in worlds]
    assert [len(s) for s in shards] == [4, 4, 4] and len(DP.ShardLoader(loader, worlds[0])) == 4
    assert [len(s[-1][1]) for s in shards] == [4, 4, 4]       # 13 rows: 4 each, 1 left over
    full = list(loader.epoch(0))
    for k in range(3):
        torch.testing.assert_close(torch.cat([s[k][0] for s in shards]), full[k][0])
    torch.testing.assert_close(torch.cat([s[3][1] for s in shards]), full[3][1][:12])
    tiny = D.TensorLoader(W.dataset(62), 30, seed=1)          # last batch of 2 rows < 3 ranks: skipped
    assert len(DP.ShardLoader(tiny, worlds[0])) == 2 and len(list(DP.ShardLoader(tiny, worlds[0]).epoch(0))) == 2


def test_train_nproc_matches_one_process_and_resumes_with_another_n(tmp_path, capsys):
    one, two = tmp_path / "one", tmp_path / "two"
    common = ["--engine", "fused", "--optimizer", "sgd", "--lr", "0.05", "--dtype", "float64", "--no-progress"]
    assert main(["train", *common, "--epochs", "2", "--batch-size", "128", "--out", str(one)]) == 0
    assert main(["train", *common, "--epochs", "1", "--batch-size", "64", "--nproc", "2", "--out", str(two)]) == 0
    assert main(["train", "--resume", str(two), "--epochs", "2", "--nproc", "1"]) == 0   # 2 x 64 -> 1 x 128
    a = [json.loads(line) for line in (one / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines()]
    for ma, mb in zip(a, b, strict=True):
        assert ma["train_loss"] == pytest.approx(mb["train_loss"], rel=1e-10)
        assert ma["test_accuracy"] == mb["test_accuracy"]
    config = json.loads((two / "config.json").read_text())
    assert (config["nproc"], config["batch_size"]) == (1, 128)
    wa = torch.load(one / "checkpoint.pt", weights_only=False)["engine"]["model"]
    wb = torch.load(two / "checkpoint.pt", weights_only=False)["engine"]["model"]
    for k in wa:
        torch.testing.assert_close(wb[k], wa[k], rtol=1e-9, atol=1e-12)


def test_zero1_checkpoint_resumes_without_it(tmp_path):
    """A ZeRO-1 checkpoint holds the whole optimizer state (gathered), so a one-process resume goes on
    exactly as the uninterrupted one-process run does."""
    one, two = tmp_path / "one", tmp_path / "two"
    common = ["--engine", "manual", "--optimizer", "adam", "--dtype", "float64", "--no-progress"]
    assert main(["train", *common, "--epochs", "2", "--batch-size", "128", "--out", str(one)]) == 0
    assert main(["train", *common, "--epochs", "1", "--batch-size", "64", "--nproc", "2", "--zero1", "--out", str(two)]) == 0
    assert main(["train", "--resume", str(two), "--epochs", "2", "--nproc", "1"]) == 0
    a = [json.loads(line)["train_loss"] for line in (one / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(line)["train_loss"] for line in (two / "metrics.jsonl").read_text().splitlines()]
    assert a == pytest.approx(b, rel=1e-9)
    # and into ZeRO-1 again: the gathered state is sharded anew on resume
    assert main(["train", *common, "--epochs", "3", "--batch-size", "128", "--out", str(tmp_path / "three")]) == 0
    assert main(["train", "--resume", str(two), "--epochs", "3", "--nproc", "2", "--zero1"]) == 0
    c = [json.loads(line)["train_loss"] for line in (tmp_path / "three" / "metrics.jsonl").read_text().splitlines()]
    d = [json.loads(line)["train_loss"] for line in (two / "metrics.jsonl").read_text().splitlines()]
    assert c == pytest.approx(d, rel=1e-9)


@pytest.mark.parametrize("mode", ["die", "hang"])
def test_a_lost_rank_ends_the_others_with_one_line(mode, capfd):
    t0 = time.perf_counter()
    code = DP.launch(N, "gloo", 5, functools.partial(W.hang_or_die, mode))
    seconds = time.perf_counter() - t0
    err = capfd.readouterr().err
    assert code == 1 and seconds < 60, (code, seconds, err)
    lines = [line for line in err.splitlines() if line.startswith("minitorch-clf")]
    assert lines and "Traceback" not in err, err
    if mode == "hang":
        assert "rank 0: lost contact with the other ranks" in err, err


@pytest.mark.parametrize("args,words", [
    (["--nproc", "0"], "nproc: expected a positive integer"),
    (["--nproc", "2", "--engine", "compiled"], "data parallelism runs"),
    (["--nproc", "2", "--loader", "dataloader"], "--loader tensor"),
    (["--nproc", "2", "--backend", "mpi"], "backend: expected one of"),
    (["--nproc", "2", "--backend", "nccl"], "nccl runs on GPUs"),
    (["--nproc", "2", "--device", "auto", "--backend", "nccl"], "nccl"),     # auto resolved, not torch.device'd
    (["--nproc", "2", "--zero1", "--engine", "reference"], "zero1"),
    (["--nproc", "2", "--inspect"], "inspect"),
    (["--nproc", "2", "--bucket-kb", "0"], "bucket-kb"),
    (["--nproc", "2", "--compare", "reference,manual"], "nproc: --compare"),
])
def test_bad_data_parallel_arguments(tmp_path, capsys, args, words):
    assert main(["train", *args, "--out", str(tmp_path / "r"), "--epochs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "r").exists()


def test_resume_with_an_n_that_does_not_divide_the_global_batch(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", "--epochs", "1", "--batch-size", "64", "--out", str(run), "--no-progress"]) == 0
    assert main(["train", "--resume", str(run), "--epochs", "2", "--nproc", "3"]) == 2
    assert "must divide it" in capsys.readouterr().err


def _ranks_of(pid: int) -> list[int]:
    """The spawned rank processes of a `train --nproc` launcher."""
    from pathlib import Path

    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"spawn_main" in cmd:
            out.append(int(stat.parent.name))
    return sorted(out)


def test_killing_a_rank_mid_run_keeps_the_last_checkpoint(tmp_path):
    """SIGKILL one rank of `train --nproc 2` after its first checkpoint: the run stops within the
    timeout with a short message and exit 1, the folder holds only whole files, and --resume goes on."""
    import os
    import signal
    import subprocess
    import sys

    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "minitorch_clf.cli", "train", "--nproc", "2", "--epochs", "200",
                             "--out", str(run), "--dist-timeout", "10", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (run / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        ranks = _ranks_of(proc.pid)
        assert (run / "checkpoint.pt").exists() and len(ranks) == 2, (ranks, proc.poll())
        os.kill(ranks[1], signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, (proc.returncode, err)
    assert "Traceback" not in err and 1 <= len(err.strip().splitlines()) <= 2, err
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".") and p.name != ".lock") == []
    done = torch.load(run / "checkpoint.pt", weights_only=False)["epoch"]
    assert main(["train", "--resume", str(run), "--epochs", str(done + 1), "--no-progress"]) == 0
    assert len((run / "metrics.jsonl").read_text().splitlines()) == done + 1


def test_bench_nproc(tmp_path, capsys):
    out = tmp_path / "dp.json"
    assert main(["bench", "--engines", "manual,reference", "--batch-sizes", "16", "--nproc", "1,2", "--iters", "2",
                 "--repeats", "2", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "all-reduce wait" in table and "in DDP's backward" in table
    doc = json.loads(out.read_text())
    assert doc["kind"] == "data-parallel"
    rows = {(r["engine"], r["nproc"]): r for r in doc["records"]}
    assert rows["manual", 2]["allreduce_s"] > 0 and rows["manual", 2]["grad_bytes"] == 109_386 * 4
    assert rows["manual", 1]["efficiency"] == 1.0 and rows["reference", 2]["allreduce_s"] is None
    for args in (["--nproc", "0"], ["--nproc", "2", "--engines", "compiled"], ["--nproc", "2", "--gemm"]):
        assert main(["bench", *args]) == 2


def test_torchrun_runs_the_same_training(tmp_path):
    """Under torchrun each process is one rank (RANK, WORLD_SIZE from its rendezvous): the run equals
    train --nproc's and the one-process run at the global batch."""
    import subprocess
    import sys
    from pathlib import Path

    torchrun = Path(sys.executable).with_name("torchrun")
    common = ["--engine", "manual", "--optimizer", "sgd", "--lr", "0.05", "--dtype", "float64", "--epochs", "1",
              "--no-progress"]
    done = subprocess.run([str(torchrun), "--nproc-per-node", "2", "-m", "minitorch_clf.cli", "train", *common,
                           "--out", str(tmp_path / "tr")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert main(["train", *common, "--batch-size", "128", "--out", str(tmp_path / "one")]) == 0
    a, b = ((tmp_path / d / "metrics.jsonl").read_text() for d in ("tr", "one"))
    assert json.loads(a)["train_loss"] == pytest.approx(json.loads(b)["train_loss"], rel=1e-10)
    assert json.loads((tmp_path / "tr" / "config.json").read_text())["nproc"] == 2


def test_train_refuses_a_config_for_other_ranks(tmp_path):
    from minitorch_clf.train import TrainConfig, UsageError, train

    with pytest.raises(UsageError, match="nproc: the config asks for 2 ranks, this process is one of 1"):
        train(TrainConfig(nproc=2, epochs=1), tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_the_ranks_die_with_a_killed_launcher(tmp_path):
    """SIGKILL the launcher of `train --nproc 2` (as an out-of-memory killer would): nothing in it runs, yet
    its ranks end at once (PR_SET_PDEATHSIG); before, they trained on for minutes."""
    import os
    import signal
    import subprocess
    import sys

    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "minitorch_clf.cli", "train", "--nproc", "2", "--epochs", "200",
                             "--out", str(run), "--dist-timeout", "30", "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ranks = []
    try:
        deadline = time.time() + 120
        while not (run / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        ranks = _ranks_of(proc.pid)
        assert len(ranks) == 2, (ranks, proc.poll())
        proc.kill()
        proc.wait(10)
        deadline = time.time() + 10
        while any(os.path.exists(f"/proc/{r}") and _alive(r) for r in ranks) and time.time() < deadline:
            time.sleep(0.1)
        assert not any(_alive(r) for r in ranks), "a rank outlived its killed launcher"
    finally:
        for r in ranks:
            with contextlib.suppress(ProcessLookupError):
                os.kill(r, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (a dead rank whose parent is gone is reaped by init)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_rank_count_the_memory_cannot_hold_is_refused_before_any_starts(tmp_path, capsys):
    code = main(["train", "--nproc", "100000", "--epochs", "1", "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "nproc: 100000 ranks need about" in err and "available" in err
    assert not (tmp_path / "run" / "config.json").exists()
    assert main(["bench", "--nproc", "1,100000", "--batch-sizes", "8"]) == 2
    assert "nproc: 100000 ranks need about" in capsys.readouterr().err
