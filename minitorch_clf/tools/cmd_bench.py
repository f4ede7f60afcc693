"""`minitorch-clf bench`: the options checked together (nothing given is ignored), then the step,
epoch, --ops, --gemm or --nproc benchmark, its table, and with --json the records, the machine and its
ceilings (what `report` reads)."""
from __future__ import annotations

from ..errors import UsageError, expect_one_of
from ..functional import ACTIVATIONS
from ..optim import REGISTRY
from .cli_common import capacity, check_writable, cpu_isas, parse_device

OPTIMIZERS = tuple(REGISTRY)


def cmd_bench(args) -> int:
    from . import bench as B
    from . import machine as M
    from ..engines import COMPILE_MODES, COMPILED, ENGINES, GPU_ENGINES, PEERS

    names = ENGINES + GPU_ENGINES + PEERS
    for name in args.engines:
        base, _, gemm = name.partition("@")
        if base not in names:
            raise UsageError(f"engines: expected names from {', '.join(names)}, got {name!r}")
        if gemm and (base != "fused" or gemm not in B.SUFFIXES):
            raise UsageError(f"engines: only fused takes a suffix, @{', @'.join(B.SUFFIXES)} "
                             f"(its GEMM, or the GEMM's instruction set); got {name!r}")
        if gemm in ("avx512", "avx2") and gemm not in cpu_isas():
            raise UsageError(f"engines: this CPU cannot run {gemm} ({name!r})")
    args.engines = _with_precisions(args.engines, args.precision, args)
    twice = sorted({e for e in args.engines if args.engines.count(e) > 1})
    if twice:
        raise UsageError(f"engines: each engine once (they are timed in turns), got {', '.join(twice)} twice")
    if any(b <= 0 for b in args.batch_sizes):     # (a list from _csv holds one item or more)
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
        capacity(max(args.nproc))
    if args.phases and (args.ops or args.gemm or args.epoch):
        raise UsageError("phases: only the step benchmark profiles phases (leave out --ops/--gemm/--epoch)")
    if args.plot is not None and not args.plot.suffix:
        args.plot = args.plot.with_suffix(".png")
    for path in (args.json, args.plot):
        if path is not None:
            check_writable(path)
    expect_one_of("optimizer", args.optimizer, OPTIMIZERS, UsageError)
    expect_one_of("activation", args.activation, tuple(ACTIVATIONS), UsageError)
    if args.activation != "relu" and (args.ops or args.gemm or args.epoch or args.nproc):
        raise UsageError("activation: the step benchmark takes it (leave out --ops/--gemm/--epoch/--nproc)")
    if args.compile_mode is not None:
        expect_one_of("compile-mode", args.compile_mode, COMPILE_MODES, UsageError)
        if args.ops or args.gemm or args.nproc or not any(e in COMPILED for e in args.engines):
            raise UsageError(f"compile-mode: sets the mode of the compiled engines ({', '.join(COMPILED)}) in the "
                             "step or epoch benchmark; none of them runs here")
    device = parse_device(args.device)
    gpu_only = [e for e in args.engines if e.partition(":")[0] in GPU_ENGINES]
    if gpu_only and device.type != "cuda":
        raise UsageError(f"engines: {', '.join(gpu_only)} captures the seed's step as a CUDA graph and runs on a "
                         "GPU (--device cuda)")
    info = M.machine_info(device)
    where = M.describe(info)
    print(f"bench on {device} ({where}), torch {info['torch']}, optimizer {args.optimizer}, "
          f"activation {args.activation}", flush=True)
    from ..cpu_wait import TIMED

    TIMED.reset()                               # the wait of this run's timed rounds only
    log = lambda m: print(m, flush=True)
    if args.nproc:
        from . import bench_dp as DPB

        records = DPB.bench_data_parallel(args.engines, args.batch_sizes, args.nproc, repeats=args.repeats,
                                          iters=args.iters, log=log)
        print(DPB.format_dp_table(records))
        _write(args, records, "data-parallel", info, device, backend="gloo")
        return 0
    trip = _RoundTrip(device, log)
    if args.gemm:
        from . import bench_gemm as G

        if device.type != "cpu":
            raise UsageError("--gemm compares CPU GEMMs: use --device cpu")
        records, peak = G.bench_gemms(args.batch_sizes, rounds=args.repeats, log=log)
        trips = trip.after()
        print(G.format_gemm_table(records))
        _write(args, records, "gemm", info, device, peak_gflops=peak, cpu_wait_share=_cpu_wait(device),
               core_round_trip_ns=trips)
        if args.plot:
            G.plot_gemms(records, peak, args.plot, f"SimpleNet step GEMMs on {where}")
            print(f"wrote {args.plot}")
        return 0
    if args.ops:
        records = B.bench_linear_forward(args.batch_sizes, device, iters=args.iters, repeats=args.repeats, log=log)
        print(B.format_table(records, time_label="median call", speedup_label="vs bare mm"))
        more = B.bench_memory_ops(args.batch_sizes, device, iters=args.iters, repeats=args.repeats, log=log)
        trips = trip.after()
        print(B.format_table(more, time_label="median call"))
        records += more
        _write(args, records, "ops", info, device, cpu_wait_share=_cpu_wait(device), core_round_trip_ns=trips)
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
    trips = trip.after()
    print(B.format_table(records, epoch=args.epoch))
    _write(args, records, "epoch" if args.epoch else "steps", info, device, optimizer=args.optimizer,
           activation=args.activation, matmul_gflops=peak / 1e9 if peak else None, compile_mode=args.compile_mode,
           cpu_wait_share=_cpu_wait(device), core_round_trip_ns=trips)
    if args.plot:
        B.plot(records, args.plot, f"SimpleNet training on {where}")
        print(f"wrote {args.plot}")
    return 0


class _RoundTrip:
    """Where this process's threads 0 and 1 sit (bench_gemm.core_placement: a cache line's round trip between their
    cores), read when made, at the benchmark's start, and by after(), when its rounds are done; each reading logged,
    with a warning where it moved. None off the CPU, with one thread or without the kernels to measure with."""

    def __init__(self, device, log):
        from .. import ops

        self.log, self.start = log, None
        if device.type == "cpu":
            from .bench_gemm import core_placement

            try:
                self.start = core_placement(log=log)
            except ops.BuildError:
                pass

    def after(self) -> dict | None:
        """--json's meta["core_round_trip_ns"]: {"start", "end"} in ns, or None (no reading at one end)."""
        from .bench_gemm import core_placement

        end = None if self.start is None else core_placement(self.start, self.log)
        return None if end is None else {"start": self.start, "end": end}


def _cpu_wait(device) -> float | None:
    """The share of its threads' time that this process waited for a core in bench's timed rounds (cpu_wait.TIMED,
    reset at bench's start), with a line where it is over cpu_wait.BUSY; None off the CPU or where Linux does not
    say."""
    import torch

    from ..cpu_wait import BUSY, TIMED

    share = TIMED.share(torch.get_num_threads()) if device.type == "cpu" else None
    if share is not None and share > BUSY:
        print(f"the CPU was shared: this process's threads waited for a core {share:.0%} of their time in the timed "
              f"rounds (more threads were runnable than there are cores: other processes?); the times above include "
              f"that wait", flush=True)
    return share


def _write(args, records, kind: str, info: dict, device, **meta) -> None:
    """bench --json: the records with the machine and its ceilings, measured now (a few seconds)."""
    from . import bench as B
    from . import machine as M

    if not args.json:
        return
    ceilings = M.ceilings(device, log=lambda m: print(m, flush=True))
    if device.type == "cpu" and kind != "data-parallel":     # what the GEMM ran (the ranks' own are not seen here)
        meta["gemm_plans"] = _gemm_plans(args.batch_sizes)
    B.write_json(records, args.json, kind, info, ceilings, **meta)
    print(f"wrote {args.json}")


def _gemm_plans(batch_sizes) -> list[dict]:
    """The plan of each product of SimpleNet's step at each batch size, as the GEMM runs it now: tuned
    (ops/tune.py) or derived by its rules."""
    from ..models import MLPConfig
    from ..ops import tune

    return [{"batch_size": bs, **p} for bs in batch_sizes for p in tune.in_force(bs, MLPConfig().sizes)]


def _with_precisions(engines: list[str], precisions: list[str], args) -> list[str]:
    """Each engine at each precision: `name` for float32, `name:bf16` for the others (bench._build reads it)."""
    from ..engines import check_precision, resolve_device
    from ..functional import PRECISIONS

    for p in precisions:
        expect_one_of("precision", p, PRECISIONS, UsageError)
    if precisions != ["float32"]:
        if args.ops or args.gemm or args.nproc:
            raise UsageError("precision: the step and epoch benchmarks take it (leave out --ops/--gemm/--nproc)")
        device = parse_device(args.device)
        import torch

        for name in engines:
            for p in precisions:
                try:
                    check_precision(p, name.partition("@")[0], resolve_device(device), torch.float32)
                except ValueError as e:
                    raise UsageError(f"{name}: {e}") from None
    return [name if p == "float32" else f"{name}:{p}" for name in engines for p in precisions]
