"""Holistic Trace Analysis of a CUDA profile: where the GPU's time went over the recorded steps.

`minitorch-clf profile --device cuda` prints this under torch.profiler's operator table when the
`profile` extra (holistictraceanalysis, torch-tb-profiler's successor for trace summaries) is installed:

    temporal breakdown   the GPU timeline from the first kernel to the last, split into kernels that
                         compute, kernels that do not (copies, memsets, collectives) and idle time
    idle breakdown       of the busiest stream: waiting for the host (the next kernel was launched
                         after the one before it ended), waiting between kernels (launched in time, yet
                         a gap under 30 us: what each kernel's start costs), other
    kernel breakdown     the kernels that took the most GPU time, with their count

A launch-bound step (many small kernels, each a few microseconds) shows as idle time between kernels
and waiting for the host; a step that runs as one kernel shows little of either. The kernel count per
step is read from the trace here, not from HTA.

HTA configures the logging of the process that imports it (its logging.config file sends the root
logger to stdout and disables the loggers that exist), so it runs in a child process:
`python -m minitorch_clf.tools.hta_summary TRACE_DIR OUT_JSON`. HTA reads every trace in a folder as
one rank each, so the parent copies the one trace into a folder of its own first.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TOP_KERNELS = 8
KERNEL_WAIT_US = 30          # HTA's default: a gap shorter than this between two kernels is "kernel wait"


class HtaUnavailable(RuntimeError):
    """HTA is not installed, or it could not read the trace (the message says which, in one line)."""


def installed() -> bool:
    return importlib.util.find_spec("hta") is not None


def kernel_count(trace: dict) -> tuple[int, int]:
    """(GPU kernels, steps) over the steps HTA reads in a Chrome trace of torch.profiler: the host's
    'ProfilerStep#N' ranges (one per prof.step() while recording) but the last, which HTA leaves out
    as it may be cut short, and the events of category 'kernel' launched in them (matched to their
    launch by correlation id). With fewer than two steps HTA reads them all, and so does this."""
    events = trace.get("traceEvents", [])
    starts = sorted(e["ts"] for e in events if str(e.get("name", "")).startswith("ProfilerStep#"))
    kernels = [e for e in events if e.get("cat") == "kernel"]
    if len(starts) < 2:
        return len(kernels), len(starts)
    launched = {e.get("args", {}).get("correlation") for e in events
                if e.get("cat") in ("cuda_runtime", "cuda_driver") and e["ts"] < starts[-1]}
    return sum(1 for e in kernels if e.get("args", {}).get("correlation") in launched), len(starts) - 1


def busiest_stream(trace: dict) -> int:
    """The stream whose kernels ran longest in a Chrome trace (the one the idle breakdown is shown for)."""
    busy: dict[int, float] = {}
    for e in trace.get("traceEvents", []):
        if e.get("cat") == "kernel":
            stream = int(e.get("args", {}).get("stream", -1))
            busy[stream] = busy.get(stream, 0.0) + float(e.get("dur", 0.0))
    return max(busy, key=busy.get)


def summarize(trace: Path) -> dict:
    """HTA's breakdowns of one trace file (module docstring), as a dict; HtaUnavailable where HTA is
    not installed or fails on it."""
    if not installed():
        raise HtaUnavailable("holistictraceanalysis is not installed (pip install -e '.[profile]' adds it)")
    try:
        events = json.loads(Path(trace).read_text())
        kernels, steps = kernel_count(events)
    except (OSError, ValueError) as e:
        raise HtaUnavailable(f"could not read {trace}: {e}") from None
    if not kernels:
        raise HtaUnavailable(f"{trace} holds no GPU kernel in the steps HTA reads")
    with tempfile.TemporaryDirectory(prefix="hta-") as tmp:
        folder = Path(tmp) / "trace"
        folder.mkdir()
        shutil.copyfile(trace, folder / "rank0.pt.trace.json")
        out = Path(tmp) / "summary.json"
        run = subprocess.run([sys.executable, "-m", __name__, str(folder), str(out)], capture_output=True, text=True)
        if run.returncode != 0 or not out.exists():
            lines = (run.stderr or run.stdout).strip().splitlines()
            raise HtaUnavailable(f"HTA could not analyse {trace}: {lines[-1] if lines else f'exit {run.returncode}'}")
        summary = json.loads(out.read_text())
    stream = busiest_stream(events)
    idle = summary.pop("idle_by_stream").get(str(stream), {})
    summary["idle"] = {"stream": stream, **{c: idle.get(c, 0.0) for c in ("host_wait", "kernel_wait", "other")}}
    summary["kernels"], summary["steps"] = kernels, steps
    return summary


def lines(summary: dict) -> list[str]:
    """The summary as the profile command prints it."""
    span = summary["span_us"]
    pct = lambda us: 100 * us / span if span else 0.0      # noqa: E731
    idle = summary["idle"]
    steps = summary["steps"]
    per_step = f" ({summary['kernels'] / steps:.1f} a step)" if steps else ""
    out = [f"HTA (holistictraceanalysis {summary['version']}): the GPU from its first kernel to its last, {span:,.0f} us",
           f"  kernels computing           {summary['compute_us']:10,.0f} us  {pct(summary['compute_us']):5.1f}%",
           f"  copies, memsets, collectives{summary['non_compute_us']:10,.0f} us  {pct(summary['non_compute_us']):5.1f}%",
           f"  idle                        {summary['idle_us']:10,.0f} us  {pct(summary['idle_us']):5.1f}%",
           f"  idle on stream {idle['stream']}: waiting for the host {idle['host_wait']:,.0f} us, between kernels "
           f"(gaps < {KERNEL_WAIT_US} us) {idle['kernel_wait']:,.0f} us, other {idle['other']:,.0f} us",
           f"  GPU kernels: {summary['kernels']} in the {steps} steps HTA reads (all recorded but the last)"
           f"{per_step}; the most time:",
           f"  {'total us':>10} {'mean us':>9} {'count':>6}  kernel"]
    for k in summary["top"]:
        out.append(f"  {k['sum_us']:10,.1f} {k['mean_us']:9,.2f} {k['count']:6d}  {k['name'][:90]}")
    return out


def _analyse(folder: str) -> dict:
    """In the child: HTA's three breakdowns of the one trace in `folder`, in microseconds (the idle time
    per stream and category; the parent picks the stream)."""
    from hta.trace_analysis import TraceAnalysis

    analysis = TraceAnalysis(trace_dir=folder)
    t = analysis.get_temporal_breakdown(visualize=False).iloc[0]
    idle = analysis.get_idle_time_breakdown(visualize=False, consecutive_kernel_delay=KERNEL_WAIT_US)[0]
    by_stream: dict[str, dict[str, float]] = {}
    for _, r in idle.iterrows():
        by_stream.setdefault(str(int(r["stream"])), {})[str(r["idle_category"])] = float(r["idle_time"])
    _, kernels = analysis.get_gpu_kernel_breakdown(visualize=False, num_kernels=TOP_KERNELS)
    kernels = kernels[kernels["name"] != "others"].sort_values("sum (us)", ascending=False).head(TOP_KERNELS)
    return {"version": importlib.metadata.version("holistictraceanalysis"),
            "span_us": float(t["kernel_time(us)"]), "compute_us": float(t["compute_time(us)"]),
            "non_compute_us": float(t["non_compute_time(us)"]), "idle_us": float(t["idle_time(us)"]),
            "idle_by_stream": by_stream,
            "top": [{"name": str(r["name"]), "sum_us": float(r["sum (us)"]), "mean_us": float(r["mean (us)"]),
                     "count": round(float(r["sum (us)"]) / float(r["mean (us)"])) if float(r["mean (us)"]) else 0}
                    for _, r in kernels.iterrows()]}


if __name__ == "__main__":
    Path(sys.argv[2]).write_text(json.dumps(_analyse(sys.argv[1])))
