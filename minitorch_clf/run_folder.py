"""The run folder: what a training run leaves on disk, and how it is kept whole.

A run folder holds:
  config.json      the TrainConfig (config.py)
  metrics.jsonl    one JSON object per epoch: epoch, train_loss, test_loss, test_accuracy, seconds
  curves.png       loss and accuracy against epoch
  checkpoint.pt    engine state (model + optimizer), epochs done, RNG states, metrics so far, config
  inspect.jsonl    with `inspect`: per-layer statistics of the inspected steps (diagnostics.py), and
  inspect.png      their pictures
Files are written to a temporary name and renamed, so a crash never leaves half a file; temporary
files a killed process left behind are removed at the next start or resume. A run folder has one
owner at a time: training holds an exclusive lock on `.lock` inside it, so a second process training
into the same folder is refused, and a new run never writes into a folder that holds one unless told
to (`overwrite`). The files an overwrite replaces wait in `.replaced/` until the new run has saved
its first checkpoint; a new run that stops before that (diverged, interrupted, failed, killed) gives
them back, so an overwrite never leaves the folder with neither run. A checkpoint is checked field
by field and against config.json before it is loaded: one from another run is refused. SIGTERM
stops training like Ctrl-C (interrupts): the last completed epoch's checkpoint stays.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import torch

from .config import TrainConfig
from .errors import UsageError
from .plotting import pyplot

# ----------------------------------------------------------------------------------------------
# files

TMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write) -> None:
    """Call write(tmp_path), then rename tmp over path (atomic on POSIX). The file gets the mode a plain
    open() would give (0666 less the umask), not mkstemp's 0600."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(out: Path) -> list[Path]:
    """Delete the temporary files of atomic_write that a killed process left in `out` (call it only
    while holding the folder's lock: then no other writer can own them)."""
    stale = [p for p in out.glob(f".*{TMP_SUFFIX}") if p.is_file() and not p.name.startswith(".write-test-")]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def write_checkpoint(path: Path, checkpoint: dict) -> None:
    """atomic_write of torch.save, with a one-line error naming the cause (a full disk makes torch.save
    report 'unexpected pos ...')."""
    try:
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))
    except (OSError, RuntimeError) as e:
        full = getattr(e, "errno", None) == errno.ENOSPC or shutil.disk_usage(path.parent).free < (1 << 20)
        reason = "no space left on the device" if full else str(e).splitlines()[0]
        raise UsageError(f"checkpoint: could not write {path} ({reason}); the previous checkpoint is intact") from None


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


# The fields of a run's config that its checkpoint's weights and optimizer state depend on: a checkpoint
# whose own config differs in one of them belongs to another run (epochs, device and data_dir may change
# between runs of the same training; nproc and batch_size together, keeping the global batch).
RUN_DEFINING = ("dataset", "engine", "optimizer", "lr", "momentum", "weight_decay", "dtype", "seed", "loader",
                "hidden", "activation")


def load_checkpoint(run_dir: Path, cfg: TrainConfig | None = None) -> dict:
    """The run folder's checkpoint, checked field by field (a hand-edited or damaged one is one line, not a
    traceback later) and, given the folder's config, against it: a checkpoint copied from another run is
    refused before anything is loaded or trained."""
    path = run_dir / "checkpoint.pt"
    if not path.is_file():
        why = (f": an overwrite of this folder was stopped before its first checkpoint; `train --out {run_dir}` "
               "(no --overwrite) puts the run it replaced back") if (run_dir / REPLACED).is_dir() else ""
        raise UsageError(f"checkpoint: no checkpoint at {path}{why}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # any unpickling failure means the file is not ours or is damaged
        raise UsageError(f"checkpoint: {path} is not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or not {"engine", "epoch", "rng", "metrics"} <= set(ckpt):
        raise UsageError(f"checkpoint: {path} is not a minitorch-clf checkpoint (missing keys)")
    epoch, metrics, rng = ckpt["epoch"], ckpt["metrics"], ckpt["rng"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
        raise UsageError(f"checkpoint: {path}: epoch: expected the epochs done, an integer >= 1, got {epoch!r}")
    if not isinstance(metrics, list) or len(metrics) != epoch or any(
            not isinstance(m, dict) or m.get("epoch") != k + 1 for k, m in enumerate(metrics)):
        raise UsageError(f"checkpoint: {path}: metrics: expected one record per epoch done ({epoch}), each with "
                         "its epoch number")
    torch_rng = rng.get("torch") if isinstance(rng, dict) else None
    if not (isinstance(torch_rng, torch.Tensor) and torch_rng.dtype == torch.uint8
            and torch_rng.shape == torch.get_rng_state().shape):
        raise UsageError(f"checkpoint: {path}: rng: the random generator's state is damaged")
    if not isinstance(ckpt["engine"], dict) or not {"engine", "model", "optimizer"} <= set(ckpt["engine"]):
        raise UsageError(f"checkpoint: {path}: engine: expected the engine's state (engine, model, optimizer)")
    if cfg is not None:
        _check_same_run(path, cfg, ckpt)
    return ckpt


def _check_same_run(path: Path, cfg: TrainConfig, ckpt: dict) -> None:
    saved = ckpt.get("config")
    if not isinstance(saved, dict):
        raise UsageError(f"checkpoint: {path} does not say which run made it (no config)")
    ours = dataclasses.asdict(cfg)
    for name in RUN_DEFINING:
        mine, theirs = ours[name], saved.get(name)
        if name == "hidden":
            mine, theirs = tuple(mine), tuple(theirs) if isinstance(theirs, (list, tuple)) else theirs
        if mine != theirs:
            raise UsageError(f"checkpoint: {path} does not match the run's config.json (another run's: made with "
                             f"{name} {theirs!r}, config.json says {mine!r})")
    if (cfg.nproc * cfg.batch_size != saved.get("nproc", 1) * saved.get("batch_size", 0)):
        raise UsageError(f"checkpoint: {path} does not match the run's config.json (another run's: global batch "
                         f"{saved.get('nproc', 1)} x {saved.get('batch_size')}, config.json's {cfg.nproc} x {cfg.batch_size})")
    if ckpt["engine"]["engine"] != cfg.engine:
        raise UsageError(f"checkpoint: {path} does not match the run's config.json (it holds the state of the "
                         f"{ckpt['engine']['engine']!r} engine, config.json says {cfg.engine!r})")


def load_run_config(run_dir: Path) -> TrainConfig:
    if not run_dir.is_dir():
        raise UsageError(f"run: expected a run folder, got {run_dir}" + ("" if run_dir.exists() else " (missing)"))
    path = run_dir / "config.json"
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"run: no config.json in {run_dir}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"run: {path} is not a readable config ({e})") from None
    if not isinstance(d, dict):
        raise UsageError(f"run: {path} is not a config (expected a JSON object)")
    try:
        cfg = TrainConfig.from_dict(d)
    except TypeError as e:
        raise UsageError(f"run: {path} is not a valid config ({e})") from None
    cfg.validate()
    return cfg


def restore(engine, ckpt: dict) -> None:
    """Load a checkpoint's engine state into `engine`; a one-line error when it belongs to another config."""
    try:
        engine.load_state_dict(ckpt["engine"])
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"checkpoint: does not match the run's config.json ({first})") from None


def cannot_write(out: Path, e: OSError) -> UsageError:
    """The one line for an output folder that refuses a file (run folders, profile, report)."""
    return UsageError(f"out: cannot write to {out} ({e.strerror or e})")


def prepare_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-")
        probe.close()
    except OSError as e:
        raise cannot_write(out, e) from None


RUN_FILES = ("config.json", "metrics.jsonl", "checkpoint.pt", "curves.png", "inspect.jsonl", "inspect.png")


def check_new_run(out: Path, overwrite: bool) -> list[str]:
    """A new run refuses a folder that holds one, unless `overwrite`; returns the run files it holds
    (train checks under the folder's lock, train --nproc once more before it starts the ranks)."""
    held = [name for name in RUN_FILES if (Path(out) / name).exists()]
    if held and not overwrite:
        raise UsageError(f"out: {out} already holds a run ({', '.join(held)}); continue it with "
                         f"--resume {out}, replace it with --overwrite, or choose another --out")
    return held


REPLACED = ".replaced"          # an overwritten run's files, until the new run's first checkpoint


def set_aside(out: Path, held: list[str]) -> None:
    """--overwrite: move the old run's files into out/.replaced (drop_replaced deletes them once the new
    run has a checkpoint; give_back_replaced restores them if it never gets one)."""
    if held:
        keep = out / REPLACED
        keep.mkdir()
        for name in held:
            os.replace(out / name, keep / name)


def drop_replaced(out: Path) -> None:
    shutil.rmtree(out / REPLACED, ignore_errors=True)


def give_back_replaced(out: Path) -> bool:
    """Put an overwritten run's files back in place of what the new run wrote before its first checkpoint
    (also at the next start, after a killed one). Call it holding the folder's lock. True if it did."""
    keep = out / REPLACED
    if not keep.is_dir():
        return False
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for p in keep.iterdir():
        os.replace(p, out / p.name)
    keep.rmdir()
    return True


def new_run_dir(base: Path = Path("runs")) -> Path:
    """A run folder no other run has: runs/<timestamp>, or <timestamp>-2, -3, ... when that one exists
    (mkdir is atomic, so two processes started in the same second get two folders)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        base.mkdir(parents=True, exist_ok=True)
        for k in range(1, 10_000):
            out = base / (stamp if k == 1 else f"{stamp}-{k}")
            try:
                out.mkdir()
                return out
            except FileExistsError:
                continue
    except OSError as e:
        raise UsageError(f"out: cannot create a run folder in {base} ({e.strerror or e})") from None
    raise UsageError(f"out: no free run folder name in {base} for {stamp}")


@contextlib.contextmanager
def owned(out: Path):
    """Hold the run folder's lock (`out/.lock`, flock, released when the process ends however it ends);
    a one-line error if another process holds it."""
    try:
        fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
    except OSError as e:
        raise cannot_write(out, e) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"out: {out} is in use by another training process; "
                             "wait for it, or choose another --out") from None
        yield
    finally:
        os.close(fd)


_caught: list[int] = []     # the signals `interrupts()` has turned into KeyboardInterrupt, in order


@contextlib.contextmanager
def interrupts():
    """Inside the block SIGINT (Ctrl-C) and SIGTERM (`kill`) raise KeyboardInterrupt, so training stops
    between two Python operations, never inside a rename; the previous handlers come back after.

    Python loses an exception raised while a weakref callback or a __del__ runs: it prints "Exception
    ignored in ..." and carries on. A signal that lands there was forgotten, and training ran to its
    last epoch (13 of 250 Ctrl-Cs at random moments, in a WeakKeyDictionary's callback). So the handler
    also records the signal, `raise_if_interrupted()` (called between steps) raises it again, and such
    a lost KeyboardInterrupt is not printed: it is not lost any more. A C extension may also turn the
    KeyboardInterrupt into an error of its own (matplotlib's renderer: 'ValueError: Invalid bounding
    box', 1 Ctrl-C in about 100 sent as the first epoch ended); an error that leaves the block after a
    signal arrived leaves it as KeyboardInterrupt."""
    def handler(signum, frame):
        _caught.append(signum)
        raise _interrupt(signum)

    def unraisable(info):
        if not (_caught and issubclass(info.exc_type, KeyboardInterrupt)):
            previous_hook(info)

    try:
        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:                          # not the main thread: leave signals alone
        yield
        return
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable
    _caught.clear()
    try:
        yield
    except Exception:
        if _caught:     # a C extension made the KeyboardInterrupt its own error: it is the interrupt's
            raise _interrupt(_caught[0]) from None
        raise
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        sys.unraisablehook = previous_hook
        _caught.clear()


def raise_if_interrupted() -> None:
    """KeyboardInterrupt if `interrupts()` caught a signal (one whose exception Python may have lost)."""
    if _caught:
        raise _interrupt(_caught[0])


def _interrupt(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def plot_curves(metrics: list[dict], path: Path) -> None:
    plt = pyplot()

    epochs = [m["epoch"] for m in metrics]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(epochs, [m["train_loss"] for m in metrics], "o-", label="train")
    ax1.plot(epochs, [m["test_loss"] for m in metrics], "s-", label="test")
    ax1.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax1.legend()
    ax2.plot(epochs, [100 * m["test_accuracy"] for m in metrics], "s-", color="C1")
    ax2.set(xlabel="epoch", ylabel="test accuracy (%)", title="accuracy")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
