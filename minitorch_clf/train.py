"""The epoch loop: train, evaluate, write metrics, curves and checkpoints into the run folder
(run_folder.py), resume, and compare engines side by side. The batch order of an epoch is a function
of (seed, epoch) alone, so a resumed run takes exactly the steps the uninterrupted run would have taken.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from . import data as D
from . import diagnostics as DG
from .config import TrainConfig
from .errors import UsageError
from .plotting import pyplot
from .run_folder import (atomic_write, check_new_run, drop_replaced, give_back_replaced, interrupts, load_checkpoint,
                         owned, plot_curves, prepare_out, raise_if_interrupted, remove_stale_temporaries, restore,
                         set_aside, write_checkpoint, write_text)

__all__ = ["TrainConfig", "UsageError", "RunResult", "evaluate", "train", "train_rank", "check_compare", "compare",
           "relative_gap"]

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
    # Signals are caught from the start, not only around the loop: a Ctrl-C that Python lost while the
    # engine was built (run_folder.interrupts) is raised again at the first step.
    writer = world is None or world.is_writer
    with interrupts() if writer else contextlib.nullcontext():
        return _setup_and_train(cfg, Path(out), resume, progress, overwrite, log, inspect, world, bucket_kb, zero1)


def _setup_and_train(cfg, out, resume, progress, overwrite, log, inspect, world, bucket_kb, zero1) -> RunResult:
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
    if inspect is not None:
        try:
            engine.check_inspectable()
        except ValueError as e:
            raise UsageError(str(e)) from None
    if ckpt is not None:
        restore(engine, ckpt)
        _set_rng_state(ckpt["rng"])
    if world is not None:
        from . import distributed as DP

        try:
            DP.check_options(cfg.engine, zero1, inspect)
            DP.attach(engine, world, bucket_kb, zero1)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if not world.is_writer:                    # rank 0 owns and writes the run folder
            return _train(cfg, out, engine, train_split, test_split, ckpt, False, lambda *a: None, None, world)
    prepare_out(out)
    # matplotlib now, not at the first epoch's plot: a Ctrl-C inside its C extensions' first import
    # left them half initialised ('ImportError: initialization failed'); interrupts() reports that as
    # the interrupt, but no import should run inside the loop
    pyplot()
    with owned(out):
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
        raise_if_interrupted()                     # after the last epoch too: a Ctrl-C is never reported as 0
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
        raise_if_interrupted()                 # a Ctrl-C whose exception Python lost (run_folder.interrupts)
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
