"""The epoch loop: train, evaluate, write metrics, curves and checkpoints, resume, compare engines.

A run folder holds:
  config.json      the TrainConfig
  metrics.jsonl    one JSON object per epoch: epoch, train_loss, test_loss, test_accuracy, seconds
  curves.png       loss and accuracy against epoch
  checkpoint.pt    engine state (model + optimizer), epochs done, RNG states, metrics so far
  inspect.jsonl    with `inspect`: per-layer statistics of the inspected steps (diagnostics.py), and
  inspect.png      their pictures
Files are written to a temporary name and renamed, so a crash never leaves half a file; temporary
files a killed process left behind are removed at the next start or resume. A run folder has one
owner at a time: training holds an exclusive lock on `.lock` inside it, so a second process training
into the same folder is refused, and a new run never writes into a folder that holds one unless told
to (`overwrite`). The files an overwrite replaces wait in `.replaced/` until the new run has saved
its first checkpoint; a new run that stops before that (diverged, interrupted, failed, killed) gives
them back, so an overwrite never leaves the folder with neither run. SIGTERM stops training like Ctrl-C: the last completed epoch's checkpoint stays.
The batch order of an epoch is a function of (seed, epoch) alone, so a resumed run takes exactly the
steps the uninterrupted run would have taken.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from . import data as D
from . import diagnostics as DG
from .engines import ENGINES, OPTIMIZERS, build_engine, resolve_device
from .functional import ACTIVATIONS
from .models import MLPConfig
from .plotting import pyplot

DTYPES = {"float32": torch.float32, "float64": torch.float64}


class UsageError(Exception):
    """Bad arguments or inputs: the CLI prints the message on one line and exits 2."""


@dataclass
class TrainConfig:
    dataset: str = "mnist-5k"
    data_dir: str = "data"
    download: bool = False
    engine: str = "manual"
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float | None = None
    epochs: int = 10
    batch_size: int = 64
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    loader: str = "tensor"
    hidden: tuple[int, ...] = (128, 64)
    activation: str = "relu"
    nproc: int = 1                        # data-parallel ranks; batch_size is each rank's (distributed.py)

    def validate(self) -> None:
        """Raise UsageError naming the first bad field; touches nothing."""
        choices = {"dataset": D.DATASETS, "engine": ENGINES, "optimizer": OPTIMIZERS,
                   "loader": tuple(D.LOADERS), "dtype": tuple(DTYPES), "activation": tuple(ACTIVATIONS)}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise UsageError(f"{name}: expected one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name in ("data_dir", "device"):
            if not isinstance(getattr(self, name), str):
                raise UsageError(f"{name.replace('_', '-')}: expected a string, got {getattr(self, name)!r}")
        if not isinstance(self.download, bool):
            raise UsageError(f"download: expected true or false, got {self.download!r}")
        for name in ("epochs", "batch_size", "nproc"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise UsageError(f"{name.replace('_', '-')}: expected a positive integer, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < 2**63:
            raise UsageError(f"seed: expected an integer in [0, 2**63), got {self.seed!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise UsageError(f"lr: expected a finite positive value, got {self.lr!r}")
        for name in ("momentum", "weight_decay"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise UsageError(f"{name.replace('_', '-')}: expected a finite value >= 0, got {value!r}")
        if not self.hidden or any(not isinstance(h, int) or isinstance(h, bool) or h <= 0 for h in self.hidden):
            raise UsageError(f"hidden: expected positive layer sizes, got {self.hidden}")
        self._check_fits()
        try:
            resolve_device(self.device)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if self.nproc > 1:
            from .distributed import SUPPORTED

            if self.engine not in SUPPORTED:
                raise UsageError(f"nproc: data parallelism runs the {', '.join(SUPPORTED)} engines, not {self.engine!r}")
            if self.loader != "tensor":
                raise UsageError("nproc: the ranks shard the resident tensor loader's batches; use --loader tensor")

    def _check_fits(self) -> None:
        """The network's weights, gradients and two optimizer states (Adam's) must fit in the memory
        available: a layer of 10**12 units was an allocation traceback, one of 10**8 the OOM killer."""
        from .distributed import available_memory

        sizes = (MLPConfig().in_features, *self.hidden, MLPConfig().num_classes)
        params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
        need = 4 * params * DTYPES.get(self.dtype, torch.float64).itemsize
        free = available_memory()
        if free is not None and need > free:
            raise UsageError(f"hidden: {','.join(map(str, self.hidden))} makes {params:,} parameters, "
                             f"{need / 2**30:.1f} GiB with their gradients and optimizer state; "
                             f"{free / 2**30:.1f} GiB are available")

    def build(self):
        """(engine, train split, test split) ready to run."""
        train_split, test_split = self.load_data()
        return self.build_engine(train_split), train_split, test_split

    def load_data(self) -> tuple[D.Split, D.Split]:
        try:
            return D.load(self.dataset, self.data_dir, self.download, split_seed=self.seed)
        except D.DataError as e:
            raise UsageError(str(e)) from None

    def build_engine(self, train_split: D.Split):
        """This config's engine, sized for the images of `train_split`."""
        from .ops import BuildError

        h, w = train_split.images.shape[1:]
        config = MLPConfig(in_features=h * w, hidden=tuple(self.hidden), num_classes=10, activation=self.activation)
        try:
            return build_engine(self.engine, optimizer=self.optimizer, lr=self.lr, momentum=self.momentum,
                                weight_decay=self.weight_decay, device=self.device, dtype=DTYPES[self.dtype],
                                seed=self.seed, config=config)
        except (ValueError, TypeError, BuildError) as e:     # what the engine or optimizer refused, or no kernels
            raise UsageError(f"{self.engine}: {e}") from None

    def make_loader(self, split: D.Split, engine, shuffle: bool = True):
        return D.make_loader(self.loader, split, self.batch_size, device=engine.device, seed=self.seed,
                             shuffle=shuffle, dtype=engine.dtype)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown, missing = set(d) - fields, fields - set(d)
        if unknown:
            raise UsageError(f"config.json: unknown fields {sorted(unknown)}")
        if missing:                                # a default would stand in silently for what the run used
            raise UsageError(f"config.json: missing fields {sorted(missing)}")
        d = dict(d)
        if "hidden" in d:
            d["hidden"] = tuple(d["hidden"])
        return cls(**d)


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
    if not path.is_file() and (run_dir / REPLACED).is_dir():
        raise UsageError(f"checkpoint: no checkpoint at {path}: an overwrite of this folder was stopped before its "
                         f"first checkpoint; `train --out {run_dir}` (no --overwrite) puts the run it replaced back")
    if not path.is_file():
        raise UsageError(f"checkpoint: no checkpoint at {path}")
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


def prepare_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-")
        probe.close()
    except OSError as e:
        raise UsageError(f"out: cannot write to {out} ({e.strerror or e})") from None


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
        raise UsageError(f"out: cannot write to {out} ({e.strerror or e})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"out: {out} is in use by another training process; "
                             "wait for it, or choose another --out") from None
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Inside the block SIGTERM raises KeyboardInterrupt, so `kill` stops training as Ctrl-C does
    (between two writes, never inside a rename); the previous handler is restored after."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:                          # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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


# ----------------------------------------------------------------------------------------------
# the loop

@torch.no_grad()
def evaluate(engine, loader) -> tuple[float, float, torch.Tensor]:
    """(mean loss, accuracy, confusion matrix (true, predicted)) over one pass of `loader`."""
    total_loss, n = 0.0, 0
    confusion = torch.zeros(engine.config.num_classes, engine.config.num_classes, dtype=torch.int64)
    for x, y in loader.epoch(0):
        logits = engine.predict(x)
        total_loss += F.cross_entropy(logits, y, reduction="sum").item()
        n += len(y)
        pred = logits.argmax(1)
        k = engine.config.num_classes
        confusion += torch.bincount((y * k + pred).cpu(), minlength=k * k).reshape(k, k)
    return total_loss / n, confusion.diagonal().sum().item() / n, confusion


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class RunResult:
    metrics: list[dict]
    step_losses: list[float]           # every step this call ran, in order
    out: Path


def train(cfg: TrainConfig, out: Path, resume: bool = False, progress: bool = True, overwrite: bool = False,
          log=print, inspect: int | None = None, world=None, bucket_kb: float = 32, zero1: bool = False) -> RunResult:
    """Train `cfg` into the run folder `out` (continuing it when `resume`). Raises UsageError on bad input
    before anything is written: among them a folder that another process trains into, and (unless
    `overwrite`) a new run into a folder that already holds one. KeyboardInterrupt (Ctrl-C, SIGTERM)
    leaves the last completed epoch's checkpoint. `inspect`: None (off), 0 (the first five steps and
    the first of every epoch) or N (every N steps) writes per-layer statistics to inspect.jsonl.
    `world` (distributed.World): this process is one rank of cfg.nproc; rank 0 alone writes the folder."""
    out = Path(out)
    cfg.validate()
    if (world.size if world is not None else 1) != cfg.nproc:
        raise UsageError(f"nproc: the config asks for {cfg.nproc} ranks, this process is one of "
                         f"{world.size if world is not None else 1} (start them with `train --nproc` or torchrun)")
    if inspect is not None and (isinstance(inspect, bool) or not isinstance(inspect, int) or inspect < 0):
        raise UsageError(f"inspect: expected a number of steps >= 1 (or nothing: the default schedule), got {inspect!r}")
    ckpt = load_checkpoint(out, cfg) if resume else None
    if ckpt is not None and cfg.epochs <= ckpt["epoch"]:
        raise UsageError(f"epochs: the run in {out} has done {ckpt['epoch']} epochs; "
                         f"expected a new total above that, got {cfg.epochs}")
    engine, train_split, test_split = cfg.build()
    if inspect is not None and not engine.inspectable:
        raise UsageError(f"inspect: the {cfg.engine} engine runs its step as one compiled graph; "
                         "inspect with reference, manual or fused")
    if ckpt is not None:
        restore(engine, ckpt)
        _set_rng_state(ckpt["rng"])
    if world is not None:
        from . import distributed as DP

        if inspect is not None:
            raise UsageError("inspect: one rank's statistics are not the run's; inspect a one-process run")
        try:
            DP.attach(engine, world, bucket_kb, zero1)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if not world.is_writer:                    # rank 0 owns and writes the run folder
            return _train(cfg, out, engine, train_split, test_split, ckpt, False, lambda *a: None, None, world)
    prepare_out(out)
    with owned(out), sigterm_as_interrupt():
        if give_back_replaced(out):                # a killed overwrite's: the old run first, then the checks
            log(f"{out}: an overwrite was stopped before its first checkpoint; the run it replaced is back")
        held = [] if resume else check_new_run(out, overwrite)
        set_aside(out, held)                       # --overwrite: nothing of the old run stays beside the new
        remove_stale_temporaries(out)
        try:
            return _train(cfg, out, engine, train_split, test_split, ckpt, progress, log, inspect, world)
        except BaseException:
            give_back_replaced(out)                # no checkpoint of the new run yet: the old run comes back
            raise


def _train(cfg, out, engine, train_split, test_split, ckpt, progress, log, inspect=None, world=None) -> RunResult:
    writer = world is None or world.is_writer
    saved = dataclasses.replace(cfg, data_dir=str(Path(cfg.data_dir).resolve()))   # evaluate works from anywhere
    if writer:
        write_text(out / "config.json", json.dumps(dataclasses.asdict(saved), indent=2) + "\n")

    if world is None:
        train_loader = cfg.make_loader(train_split, engine)
    else:                                          # global batches of nproc x batch_size, this rank's shard
        from .distributed import ShardLoader

        train_loader = ShardLoader(D.make_loader(cfg.loader, train_split, cfg.batch_size * world.size,
                                                 device=engine.device, seed=cfg.seed, dtype=engine.dtype), world)
    test_loader = cfg.make_loader(test_split, engine, shuffle=False)
    metrics = list(ckpt["metrics"]) if ckpt else []
    start = ckpt["epoch"] if ckpt else 0
    if writer:
        write_text(out / "metrics.jsonl", "".join(json.dumps(DG.finite_or_none(m)) + "\n" for m in metrics))
    step_losses: list[float] = []
    inspector = None
    if inspect is not None:
        inspector = DG.Inspector(out / "inspect.jsonl", inspect or None, len(train_loader), cfg.activation)
        inspector.keep_epochs(start)           # a resumed run drops what it inspected after its checkpoint
    log(f"training {cfg.engine} on {cfg.dataset} ({len(train_split)} train / {len(test_split)} test) "
        f"on {engine.device}, {cfg.optimizer} lr={cfg.lr}, batch {cfg.batch_size}"
        f"{f' per rank x {world.size} ranks' if world else ''}, epochs {start + 1}..{cfg.epochs}")
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        losses = _train_epoch(engine, train_loader, epoch, cfg, progress, inspector)
        if engine.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        test_loss, test_acc, _ = evaluate(engine, test_loader)
        losses = torch.stack(losses).double()
        if world is not None:                      # the global batch's loss: the mean of equal shards'
            losses = world.mean_(losses.to(engine.device))
        losses = losses.cpu().tolist()
        step_losses += losses
        m = dict(epoch=epoch + 1, train_loss=sum(losses) / len(losses), test_loss=test_loss,
                 test_accuracy=test_acc, seconds=seconds, samples_per_s=len(train_split) / seconds)
        if not math.isfinite(m["train_loss"]):
            raise UsageError(f"train: the training loss became {m['train_loss']} in epoch {epoch + 1} (diverged); "
                             f"the run folder keeps the {epoch} epochs before it - try a smaller --lr")
        metrics.append(m)
        log(f"epoch {epoch + 1:3d}  train loss {m['train_loss']:.4f}  test loss {test_loss:.4f}  "
            f"test acc {100 * test_acc:.2f}%  {seconds:.2f}s")
        checkpoint = {"engine": engine.state_dict(), "epoch": epoch + 1, "rng": _rng_state(),   # every rank: with
                      "metrics": metrics, "config": dataclasses.asdict(cfg)}               # zero1 a collective
        if not writer:
            continue
        write_checkpoint(out / "checkpoint.pt", checkpoint)
        drop_replaced(out)                         # an overwritten run's files: the new run stands now
        with open(out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(DG.finite_or_none(m)) + "\n")
        plot_curves(metrics, out / "curves.png")
        if inspector is not None:
            records = DG.read(out / "inspect.jsonl")
            atomic_write(out / "inspect.png", lambda tmp: DG.plot(records, tmp, f"{cfg.engine}, {cfg.optimizer} "
                                                                           f"lr={cfg.lr}, {cfg.activation}  ({out})"))
    if inspector is not None and inspector.count:
        train_s = sum(m["seconds"] for m in metrics[start:])
        log(inspector.cost(train_s, len(step_losses)))
    return RunResult(metrics, step_losses, out)


def train_rank(cfg: TrainConfig, out: Path, resume: bool, overwrite: bool, bucket_kb: float, zero1: bool,
               world) -> None:
    """One rank of `train --nproc` (distributed.launch calls it in each spawned process)."""
    train(cfg, out, resume=resume, progress=False, overwrite=overwrite, world=world, bucket_kb=bucket_kb,
          zero1=zero1, log=print if world.is_writer else (lambda *a: None))


def _train_epoch(engine, loader, epoch: int, cfg: TrainConfig, progress: bool, inspector=None) -> list[torch.Tensor]:
    losses = []
    bar = None                                 # not even a disabled bar without progress: tqdm's lock is a
    if progress:                               # semaphore a data-parallel rank, leaving by os._exit, would leak
        from tqdm import tqdm

        bar = tqdm(total=len(loader), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False,
                   file=sys.stderr)
    t0, seen = time.perf_counter(), 0
    for i, (x, y) in enumerate(loader.epoch(epoch)):
        step = epoch * len(loader) + i
        if inspector is not None and inspector.wants(step):
            losses.append(inspector.step(engine, x, y, step, epoch + 1))
        else:
            losses.append(engine.step(x, y))
        seen += len(y)
        if bar is not None:                    # the bar counts here: wrapping the iterator, tqdm kept the
            bar.update(1)                      # count in a local and showed 0/63 until its own timer fired
            if i % 10 == 0:
                bar.set_postfix(loss=f"{losses[-1].item():.4f}", samples_s=f"{seen / (time.perf_counter() - t0):.0f}")
    if bar is not None:
        bar.close()
    return losses


# ----------------------------------------------------------------------------------------------
# the core claim: two engines, same seed, weights and batches

def check_compare(cfg: TrainConfig, engines: list[str]) -> None:
    """UsageError unless `engines` are two or more different engines that can each run `cfg`."""
    for name in engines:
        dataclasses.replace(cfg, engine=name).validate()
    if len(engines) < 2 or len(set(engines)) != len(engines):
        raise UsageError(f"compare: expected two or more different engines, got {','.join(engines)}")


def compare(cfg: TrainConfig, engines: list[str]) -> dict[str, list[float]]:
    """Per-step losses of each engine, trained side by side on identical batches."""
    check_compare(cfg, engines)
    train_split, _ = cfg.load_data()                                  # read once, shared by every engine
    built = {name: dataclasses.replace(cfg, engine=name).build_engine(train_split) for name in engines}
    loader = cfg.make_loader(train_split, built[engines[0]])
    losses: dict[str, list[float]] = {name: [] for name in engines}
    for epoch in range(cfg.epochs):
        for x, y in loader.epoch(epoch):
            for name, engine in built.items():
                losses[name].append(engine.step(x, y).item())
    return losses


def relative_gap(a: list[float], b: list[float]) -> list[float]:
    return [abs(x - y) / max(abs(y), 1e-30) for x, y in zip(a, b)]
