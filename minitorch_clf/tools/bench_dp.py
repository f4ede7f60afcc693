"""`minitorch-clf bench --nproc 1,2`: data-parallel step time, the all-reduce's share, scaling.

Weak scaling, as data parallelism is used: every rank keeps its batch (`--batch-sizes`, per rank), so N
ranks train N times the samples a step. For each N the ranks start together (spawned processes, one
process group), each steps on its own resident batch after warm-up, and the median over `repeats`
rounds (each ended by a barrier, so a round is as slow as the slowest rank) is the step time. For the
hand-written engines the exposed all-reduce - the wait before the optimizer step (profiler label
`allreduce`), after whatever overlapped with backward - is timed too; DDP's (reference) runs inside
its backward and is not separated. N = 1 runs in one process without a group.

    efficiency = t(1) / t(N)        (1.0: N ranks take N x the samples in the time of one)
    samples/s  = N x batch / t(N)

On one machine the ranks share its cores (each gets cores / N threads) and the all-reduce crosses
shared memory through gloo's TCP loopback, so this measures the protocol's overhead, not a network.
"""
from __future__ import annotations

import functools
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass
class DpRecord:
    engine: str
    nproc: int
    batch_size: int             # per rank
    median_s: float             # per step (the slowest rank's)
    allreduce_s: float | None   # exposed all-reduce wait per step (hand-written engines)
    samples_per_s: float
    efficiency: float | None = None
    grad_bytes: int | None = None


def _time_steps(engine, x, y, warmup: int, iters: int, repeats: int, world=None) -> tuple[float, float | None]:
    """(median seconds per step, median exposed all-reduce seconds per step or None)."""
    import torch.distributed as dist

    waits = []
    sync = engine.grad_sync
    if sync is not None:                          # time the wait, inside the engine's own call
        inner = sync.wait

        def timed():
            t0 = time.perf_counter()
            inner()
            waits.append(time.perf_counter() - t0)

        sync.wait = timed
    for _ in range(warmup):
        engine.step(x, y)
    samples, wait_samples = [], []
    for _ in range(repeats):
        if world is not None:
            dist.barrier()
        waits.clear()
        t0 = time.perf_counter()
        for _ in range(iters):
            engine.step(x, y)
        if world is not None:
            dist.barrier()
        samples.append((time.perf_counter() - t0) / iters)
        if waits:
            wait_samples.append(sum(waits) / iters)
    return statistics.median(samples), statistics.median(wait_samples) if wait_samples else None


def _rank(engines, batch_sizes, warmup, iters, repeats, bucket_kb, out, world) -> None:
    from .. import distributed as DP
    from ..engines import build_engine

    rows = []
    for bs in batch_sizes:
        g = torch.Generator().manual_seed(1000 * world.rank + bs)
        x, y = torch.randn(bs, 784, generator=g), torch.randint(0, 10, (bs,), generator=g)
        for name in engines:
            engine = build_engine(name, optimizer="sgd", lr=0.01, momentum=0.9, seed=0)
            DP.attach(engine, world, bucket_kb, False)
            med, wait = _time_steps(engine, x, y, warmup, iters, repeats, world)
            rows.append([name, bs, med, wait, engine.grad_sync.bytes_per_step if engine.grad_sync else None])
    if world.is_writer:
        Path(out).write_text(json.dumps(rows))


def bench_data_parallel(engines: list[str], batch_sizes: list[int], nprocs: list[int], warmup: int = 10,
                        iters: int = 20, repeats: int = 7, bucket_kb: float = 32, timeout_s: float = 120,
                        log=print) -> list[DpRecord]:
    from .. import distributed as DP
    from ..engines import build_engine

    records = []
    for n in nprocs:
        if n == 1:
            rows = []
            for bs in batch_sizes:
                g = torch.Generator().manual_seed(bs)
                x, y = torch.randn(bs, 784, generator=g), torch.randint(0, 10, (bs,), generator=g)
                for name in engines:
                    engine = build_engine(name, optimizer="sgd", lr=0.01, momentum=0.9, seed=0)
                    rows.append([name, bs, *_time_steps(engine, x, y, warmup, iters, repeats), None])
        else:
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "dp.json"
                run = functools.partial(_rank, engines, batch_sizes, warmup, iters, repeats, bucket_kb, str(out))
                code = DP.launch(n, "gloo", timeout_s, run)
                if code != 0:
                    raise RuntimeError(f"nproc: the {n}-rank benchmark failed (exit {code})")
                rows = json.loads(out.read_text())
        for name, bs, med, wait, nbytes in rows:
            records.append(DpRecord(name, n, bs, med, wait, n * bs / med, grad_bytes=nbytes))
        log(f"{n} rank{'s' if n > 1 else ''}: done")
    for r in records:
        base = [b for b in records if b.nproc == 1 and b.engine == r.engine and b.batch_size == r.batch_size]
        if base:
            r.efficiency = base[0].median_s / r.median_s
    return records


def format_dp_table(records: list[DpRecord]) -> str:
    from ..table import seconds_text as us, text_table

    head = ["engine", "ranks", "batch/rank", "step", "all-reduce wait", "share", "samples/s", "efficiency"]
    rows = [[r.engine, str(r.nproc), str(r.batch_size), us(r.median_s),
             us(r.allreduce_s) if r.allreduce_s is not None else ("-" if r.nproc == 1 else "in DDP's backward"),
             f"{100 * r.allreduce_s / r.median_s:.0f}%" if r.allreduce_s is not None else "-",
             f"{r.samples_per_s:,.0f}", f"{r.efficiency:.2f}" if r.efficiency else "-"] for r in records]
    return text_table(head, rows, left=1)
