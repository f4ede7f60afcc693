"""`minitorch-clf train | evaluate | check | bench | report | inspect | build | tune | profile`: the parser,
the dispatch and the small commands; `train` and `bench` have their own files (cmd_train.py,
cmd_bench.py), and what every command shares is in cli_common.py.

Bad input (an unknown name, a non-positive number, a missing GPU, an unreadable checkpoint, a run
folder in use) prints one line, `minitorch-clf: error: ...`, and exits 2 before anything is written.
Ctrl-C or SIGTERM prints one line and exits 130; training keeps its last completed epoch.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
from pathlib import Path

from ..config import TrainConfig, check_seed
from ..errors import PROG, UsageError, expect_one_of
from ..functional import ACTIVATIONS, PRECISIONS
from ..optim import REGISTRY
from .cli_common import check_writable, parse_device
from .cmd_bench import cmd_bench
from .cmd_train import DIST_TIMEOUT_S, cmd_train

OPTIMIZERS = tuple(REGISTRY)


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
    p.add_argument("--engine", help=f"reference, manual, compiled, compiled-reference, fused, or on a GPU "
                                     f"graphed-reference; default {d.engine}")
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
    p.add_argument("--precision", help=f"of the products' inputs: {', '.join(PRECISIONS)} (tf32: a GPU's); "
                                       f"default {d.precision}")
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

    from ..checks import format_precision_table, precision_rows

    dtypes = {"float32": torch.float32, "float64": torch.float64}
    if args.dtype not in dtypes:
        raise UsageError(f"dtype: expected float32 or float64, got {args.dtype!r}")
    expect_one_of("precision", args.precision, PRECISIONS, UsageError)
    check_seed(args.seed)
    device = parse_device(args.device)
    if args.precision == "tf32" and device.type != "cuda":
        raise UsageError("precision: tf32 is the format NVIDIA tensor cores read float32 products in (a GPU's); "
                         "on the CPU use bf16")
    rows = run_checks(dtypes[args.dtype], device, seed=args.seed)
    print(format_table(rows))
    failed = [r for r in rows if not r.passed]
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed ({args.dtype} parity on {device}; "
          "finite differences in float64)")
    if args.precision != "float32":
        extra = precision_rows(args.precision, device, seed=args.seed)
        print(f"\n{args.precision} products against float64 (SimpleNet, the same weights and batch), beside float32's:")
        print(format_precision_table(extra))
        bad = [r for r in extra if not r.passed]
        print(f"\n{len(extra) - len(bad)} passed, {len(bad)} failed ({args.precision})")
        failed += bad
    return 1 if failed else 0


def _csv(kind):
    """A comma-separated list; an empty item ("64,,1024", a comma at either end) is a typo, not a value to drop."""
    def parse(text: str):
        items = text.split(",")
        if "" in (v.strip() for v in items):
            raise argparse.ArgumentTypeError(f"expected a comma-separated list with no empty item, got {text!r}")
        try:
            return [kind(v) for v in items]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return parse


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
    from ..run_folder import cannot_write
    from .report import ReportError, write_report

    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"out: {args.out} is a file; expected a folder")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        check_writable(args.out / "report.md")
        path = write_report(args.runs, args.out)
    except ReportError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise cannot_write(args.out, e) from None
    print(f"wrote {path} and its images in {args.out}")
    return 0


def _cmd_build(args) -> int:
    from .. import ops

    pruned = _prune_builds() if args.prune else True
    try:
        info = ops.load(verbose=args.verbose)
    except ops.BuildError as e:
        raise UsageError(str(e)) from None
    print(f"cpu kernels:  {info['library']} (load {info['seconds']:.1f} s, a build included when not cached)")
    calls = sorted(n for n in dir(ops.direct()) if not n.startswith("_"))
    print(f"  direct calls (no dispatcher: the fused engine's CPU step, bench --gemm): {', '.join(calls)}")
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
    print(f"GEMM ISAs: {', '.join(ops.cpu_isas())}; bf16 products: {', '.join(ops.bf16_kernels())} "
          f"(the first runs them unless ops.set_bf16_kernel picks another)")
    _print_tuning_cache()
    _print_other_builds()
    missing = [n for n in ops.CUDA_OPS if "CUDA" not in kernels[n]] if args.cuda else \
        [n for n in ops.CPU_OPS if "CPU" not in kernels[n]]
    if missing:
        print(f"missing {'CUDA' if args.cuda else 'CPU'} kernels: {', '.join(missing)}")
        return 1
    return 0 if pruned else 1


def _megabytes(folders) -> str:
    return f"{sum(f.bytes for f in folders) / 1e6:.1f} MB"


def _prune_builds() -> bool:
    """build --prune: remove the build folders of checkouts that are gone; False where one could not be."""
    from ..ops import build_folders, build_root

    root = build_root()
    removed, failed = build_folders.prune(root)
    for folder in removed:
        print(f"removed {folder.path} ({_megabytes([folder])}; its checkout {folder.kernels.parent} is gone)")
    for folder, why in failed:
        print(f"could not remove {folder.path}: {why}")
    if removed:
        print(f"pruned {len(removed)} build folder{'s' * (len(removed) > 1)} of gone checkouts, {_megabytes(removed)}")
    elif not failed:
        print(f"no build folders of gone checkouts under {root.parent}")
    return not failed


def _print_other_builds() -> None:
    """The build folders other checkouts keep beside this one's, and those whose checkout is gone."""
    from ..ops import build_folders, build_root

    root = build_root()
    others = build_folders.other_folders(root)
    if not others:
        return
    gone = [f for f in others if f.gone]
    kept = len(others) - len(gone)
    parts = [f"{len(gone)} from checkouts that are gone, {_megabytes(gone)} (`minitorch-clf build --prune` removes them)"
             ] if gone else []
    parts += [f"{kept} from other checkouts or not recorded, kept"] if kept else []
    print(f"other builds under {root.parent}: {'; '.join(parts)}")


def _print_tuning_cache() -> None:
    """Where the GEMM's tuning cache of this CPU and thread count is, and its plans."""
    from ..ops import tune

    cache = tune.cached()
    off = "; MINITORCH_CLF_TUNE=0: not used" if tune.mode() == "off" else ""
    if not cache["plans"]:
        print(f"GEMM tuning cache: {cache['path']}: none yet (the fused engine's first CPU step searches its "
              f"shapes; `minitorch-clf tune` searches fully){off}")
        return
    print(f"GEMM tuning cache: {cache['path']} ({len(cache['plans'])} plans{off})")
    for e in cache["plans"]:
        shape, plan = tune.Shape(**e["shape"]), tune.Plan(**e["plan"])
        print(f"  {shape.key():28s} {str(plan):34s} (batch {e['batch_size']}: the step {e['step_seconds'] * 1e6:.1f} "
              f"us, on the derived plans {e['derived_step_seconds'] * 1e6:.1f} us; {e['search']} search)")


def _cmd_tune(args) -> int:
    import torch

    from ..models import MLPConfig
    from ..ops import tune
    from ..table import text_table

    if any(b <= 0 for b in args.batch_sizes):
        raise UsageError(f"batch-sizes: expected positive sizes, got {args.batch_sizes}")
    try:
        sizes = MLPConfig(hidden=args.hidden).sizes if args.hidden else MLPConfig().sizes
        tune.mode()
    except ValueError as e:
        raise UsageError(str(e)) from None
    from .. import ops

    try:
        ops.load()
    except ops.BuildError as e:
        raise UsageError(str(e)) from None
    print(f"tuning the GEMM's plans for the step of {'-'.join(map(str, sizes))} at batch "
          f"{', '.join(map(str, args.batch_sizes))} on {torch.get_num_threads()} threads "
          f"({'short' if args.quick else 'full'} search; ISAs {', '.join(ops.cpu_isas())})", flush=True)
    try:
        results = tune.tune(args.batch_sizes, sizes, full=not args.quick, log=lambda m: print(m, flush=True))
    except ValueError as e:
        raise UsageError(str(e)) from None
    except tune.CpuBusy as e:
        sys.stderr.write(f"{PROG}: tune: {e}; nothing written: run it again while the CPU is free\n")
        return 1
    rows = [[str(r.batch_size), name, shape.key(), str(derived), str(plan) if plan != derived else "="]
            for r in results for name, shape, plan, derived in r.products]
    print(text_table(["batch", "product", "shape", "derived plan", "tuned plan"], rows, left=5))
    for r in results:
        print(f"batch {r.batch_size}: the whole step {r.seconds * 1e6:.1f} us on the tuned plans, "
              f"{r.derived_seconds * 1e6:.1f} us on the derived ones: {r.derived_seconds / r.seconds:.2f}x "
              f"(medians, timed in turns)")
    print(f"wrote {tune.cached()['path']}" + (" (MINITORCH_CLF_TUNE=0: not used while it is set)"
                                              if tune.mode() == "off" else ""))
    return 0


def _cmd_profile(args) -> int:
    from ..engines import ENGINES
    from .profiling import profile_engine

    expect_one_of("engine", args.engine, ENGINES, UsageError)
    if args.steps <= 0 or args.batch_size <= 0:
        raise UsageError(f"steps, batch-size: expected positive values, got {args.steps}, {args.batch_size}")
    expect_one_of("optimizer", args.optimizer, OPTIMIZERS, UsageError)
    device = parse_device(args.device)
    from ..run_folder import prepare_out

    prepare_out(args.out)                          # a one-line error if the folder cannot be written
    result = profile_engine(args.engine, args.out, steps=args.steps, device=device, batch_size=args.batch_size,
                            optimizer=args.optimizer, whole_step=args.whole_step)
    print(result["table"])
    print(f"phases labelled: {', '.join(result['phases']) or 'none'}")
    for line in result["hta"] or []:
        print(line)
    print(f"chrome/perfetto trace: {result['trace']}")
    print(f"tensorboard: tensorboard --logdir {args.out}   (pip install -e '.[profile]' for the plugin)")
    return 0


def main(argv=None) -> int:
    """Parse and run one command; a Ctrl-C anywhere in it (the parser too) is one line and 130."""
    try:
        return _run(argv)
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130


def _run(argv) -> int:
    warnings.formatwarning = lambda message, category, *_: f"{PROG}: warning: {message}\n"    # one line each
    parser = _Parser(prog=PROG, description="SimpleNet on MNIST, every forward and backward written out.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train(sub)
    p = sub.add_parser("evaluate", help="test accuracy and confusion matrix of a run folder")
    p.add_argument("run", type=Path)
    p = sub.add_parser("check", help="parity and finite-difference checks of every layer and the net")
    p.add_argument("--dtype", default="float64", help="float32 or float64 (parity); FD is always float64")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default="float32",
                   help="bf16 or tf32 (GPU) also reports each gradient's error in that precision against float64")
    p = sub.add_parser("bench", help="time engines side by side (interleaved, after warm-up)")
    p.add_argument("--engines", type=_csv(str), default=["reference", "manual"],
                   help="comma-separated; fused@aten / fused@own pin the fused ops' float32 GEMM")
    p.add_argument("--batch-sizes", type=_csv(int), default=[64, 256, 1024], help="comma-separated")
    p.add_argument("--device", default="cpu")
    p.add_argument("--optimizer", default="sgd")
    p.add_argument("--activation", default="relu", help="the hidden layers' activation in every engine's step")
    p.add_argument("--precision", type=_csv(str), default=["float32"],
                   help="comma-separated precisions of the products (float32, tf32, bf16): each engine is timed in "
                        "each, as ENGINE:PRECISION beside the float32 ones")
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
    p.add_argument("--prune", action="store_true",
                   help="first remove the build folders of checkouts that no longer exist (deleted clones)")
    p = sub.add_parser("tune", help="search the CPU GEMM's fastest plans for the step's products and cache them")
    p.add_argument("--batch-sizes", type=_csv(int), default=[64, 1024], help="comma-separated; default 64,1024")
    p.add_argument("--hidden", type=_hidden, default=None, help="hidden sizes; default 128,64")
    p.add_argument("--quick", action="store_true", help="the short search that the first use runs")
    p = sub.add_parser("profile", help="torch.profiler trace of an engine's steps, phases labelled")
    p.add_argument("--engine", default="manual")
    p.add_argument("--steps", type=int, default=10, help="active (recorded) steps")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", default="sgd")
    p.add_argument("--out", type=_folder, default=Path("runs/profile"))
    p.add_argument("--whole-step", action="store_true",
                   help="fused: keep its step in one call (CPU) / one graph replay (CUDA), as it trains; no phase labels")
    args = parser.parse_args(argv)
    commands = {"train": cmd_train, "evaluate": _cmd_evaluate, "check": _cmd_check, "bench": cmd_bench,
                "build": _cmd_build, "profile": _cmd_profile, "report": _cmd_report,
                "inspect": _cmd_inspect, "tune": _cmd_tune}
    try:
        return commands[args.command](args)
    except UsageError as e:
        sys.stderr.write(f"{PROG}: error: {e}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
