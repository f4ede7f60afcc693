"""`minitorch-clf profile`: torch.profiler over an engine's training steps.

Every engine labels its phases - forward, loss, backward, optimizer - with record_function, so the
traces of different engines line up. The profiler runs a wait / warm-up / active schedule; traces go
through `tensorboard_trace_handler(out)` (open with `tensorboard --logdir out`, with the
torch-tb-profiler plugin of the `profile` extra) and to `out/trace.json` for chrome://tracing or
ui.perfetto.dev; the top-15 operators are printed. On CUDA, with the `profile` extra installed,
Holistic Trace Analysis summarises the GPU's time over the steps (hta_summary.py).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, schedule, tensorboard_trace_handler

from ..engines import PHASES, build_engine
from ..errors import UsageError
from . import hta_summary

WAIT, WARMUP = 1, 2


def quiet_kineto() -> None:
    """Keep the profiler library's own log lines out of a command's output. Kineto (torch.profiler's
    tracer) writes to stderr at every start and stop - USDT markers and, on a CUDA build of torch on a
    machine without a GPU, "ERROR: ... gpuGetDeviceCount failed with code 35", which reports nothing wrong
    with the run. KINETO_LOG_LEVEL=6 silences them (5 still lets the USDT lines through, torch 2.14); a level
    the user set is kept. Kineto reads it once, when the first profiler of the process starts (torch 2.14:
    set later, the USDT lines still came), so this is called before any profiler of a command starts; in a
    process that has run a profiler already it changes nothing."""
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")


def profile_engine(engine_name: str, out: Path, steps: int = 10, device="cpu", batch_size: int = 64,
                   optimizer: str = "sgd", log=print, whole_step: bool = False) -> dict:
    """Profile `steps` active steps; returns {"trace": path, "table": str, "phases": labels seen, "hta": HTA's
    summary lines on CUDA (one line saying why where HTA is absent or fails), None on the CPU}.
    The fused engine runs its step phase by phase, unless `whole_step`: then as it trains, one C++ call
    on the CPU, one graph replay on a GPU (no phases to label there); UsageError for an engine (or
    optimizer) that has no such step."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    engine = build_engine(engine_name, optimizer=optimizer, lr=0.01, device=device)     # SGD: momentum 0.9, the default
    if whole_step and not getattr(engine, "whole_step", False):
        raise UsageError(f"whole-step: the {engine_name} engine with {optimizer} on {engine.device.type} has no "
                         "step in one call (the fused engine has: with sgd, and on the CPU with adam or adamw)")
    if getattr(engine, "whole_step", False) and not whole_step:
        engine.whole_step = False       # one C++ call / one graph replay has no phases to label
        log("fused engine: whole-step execution switched off for the profile, so the phases stay visible "
            "(--whole-step keeps it)")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, 1, 28, 28, generator=g).to(engine.device)
    y = torch.randint(0, 10, (batch_size,), generator=g).to(engine.device)
    for _ in range(3):                  # compile / build / allocate before the profiler starts
        engine.step(x, y)
    cuda = engine.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    quiet_kineto()
    with profile(activities=activities, schedule=schedule(wait=WAIT, warmup=WARMUP, active=steps, repeat=1),
                 on_trace_ready=tensorboard_trace_handler(str(out))) as prof:
        for _ in range(WAIT + WARMUP + steps):
            engine.step(x, y)
            prof.step()
    if cuda:
        torch.cuda.synchronize()
    # the handler wrote <host>_<pid>.<time>.pt.trace.json (a Chrome trace); keep the newest as trace.json
    written = max(out.glob("*.pt.trace.json"), key=lambda p: p.stat().st_mtime)
    trace = out / "trace.json"
    shutil.copyfile(written, trace)
    sort = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=sort, row_limit=15)
    names = {event.get("name") for event in json.loads(trace.read_text()).get("traceEvents", [])}
    return {"trace": trace, "table": table, "phases": [p for p in PHASES if p in names],
            "hta": _hta_lines(trace) if cuda else None}


def _hta_lines(trace: Path) -> list[str]:
    try:
        return hta_summary.lines(hta_summary.summarize(trace))
    except hta_summary.HtaUnavailable as e:
        return [f"HTA summary: {e}"]


def phase_times(engine, x: torch.Tensor, y: torch.Tensor, steps: int = 20) -> dict[str, float]:
    """Seconds per step in each labelled phase (forward, loss, backward, optimizer): the host's wall time
    inside each record_function range, from torch.profiler over `steps` steps (profiling slows every
    phase a little; read the split, not the sum). On a GPU that is the time to issue the phase's kernels
    and wait for whatever the phase waits on - at SimpleNet's sizes the steps are launch-bound, so the
    host's time is the step's. Per-kernel GPU times are in `minitorch-clf profile`'s trace.
    The fused engine runs its phases one by one for this (whole_step off). Phases an engine does not
    label (compiled code runs as one graph) are absent."""
    whole = getattr(engine, "whole_step", None)
    if whole is not None:
        engine.whole_step = False
    try:
        for _ in range(3):
            engine.step(x, y)
        cuda = engine.device.type == "cuda"
        quiet_kineto()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                engine.step(x, y)
            if cuda:
                torch.cuda.synchronize()
        totals = dict.fromkeys(PHASES, 0.0)
        for event in prof.events():
            if event.name in totals:
                totals[event.name] += event.cpu_time_total
        return {p: us / steps / 1e6 for p, us in totals.items() if us}
    finally:
        if whole is not None:
            engine.whole_step = whole
