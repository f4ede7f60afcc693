"""`minitorch-clf report RUN.json [RUN.json ...] --out DIR`: CPU and GPU runs side by side.

Reads the JSON that `bench --json` writes (schema minitorch-clf-bench/2: the records, the machine and
the ceilings measured with them) and writes DIR/report.md with its pictures beside it:

- a roofline per machine (`roofline-<machine>.png`): x = arithmetic intensity (flops per byte of the
  least memory traffic, tools/intensity.py), y = achieved GFLOP/s, both log; the measured ceilings as
  lines (the float32 FMA peak, the best float32 GEMM, the bandwidth of each memory level as a
  diagonal); every step (engine x batch size), every first-layer forward (`bench --ops`) and every
  GEMM (`bench --gemm`) as a point;
- the same workloads on each machine in one table: step time per engine and batch size, the GPU's
  speedup over the CPU, and the batch size where the fastest GPU engine overtakes the fastest CPU one;
- the step split into its profiler phases (forward / loss / backward / optimizer; `bench --phases`)
  as a stacked bar per engine and batch size, beside the unprofiled step time.

Markdown with PNG files, not one HTML file: it renders where the project is read (GitHub, any
editor), the README can show the roofline image directly, and a new run's report diffs as text.
Bad or mismatched input (not JSON, another schema, missing fields) stops with one line naming the
file and the field.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from ..plotting import pyplot
from .bench_gemm import single_product
from .intensity import attainable, ridge
from .machine import describe
from .schema import SchemaError, check_run

TIE = 1.05                       # step times within 5% of each other: neither machine "wins" that batch


ReportError = SchemaError        # a run file the report cannot use; the message names the file and the field


# ---------------------------------------------------------------------------------------------- input

def load_run(path: Path) -> dict:
    """One bench JSON, checked: the schema version, its kind, the machine and ceilings, every record's fields."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ReportError(f"{path}: is a folder; expected a bench JSON file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReportError(f"{path}: not a readable JSON file ({e})") from None
    check_run(doc, path)
    doc["path"] = str(path)
    return doc


def machines(runs: list[dict]) -> dict[str, dict]:
    """Runs grouped by machine: {name: {"machine", "ceilings" (the first run's), "runs"}}; CPUs first."""
    out: dict[str, dict] = {}
    for run in sorted(runs, key=lambda r: r["machine"]["kind"] != "cpu"):
        name = machine_name(run["machine"])
        out.setdefault(name, {"machine": run["machine"], "ceilings": run["ceilings"], "runs": []})["runs"].append(run)
    return out


def run_conditions(run: dict) -> str:
    """What a run's meta says of the machine while it ran, as a clause for the list of runs ('' if nothing to say):
    where its threads 0 and 1 sat (bench's cache-line round trip between their cores, at the start and after the
    rounds) and how long its threads waited for a core, where bench flagged it. A meta without them (runs from
    before they were recorded, one thread) says nothing; load_run has checked what is there."""
    from ..cpu_wait import BUSY
    from .bench_gemm import placement_moved

    meta, said = run["meta"], []
    trip = meta.get("core_round_trip_ns")
    if trip is not None:
        start, end = trip["start"], trip["end"]
        said.append(f"the cores of threads 0 and 1 {start:.0f} ns apart (a cache line's round trip) at the start, "
                    f"{end:.0f} after the rounds" +
                    (": they moved during the run, its times mix two placements" if placement_moved(start, end) else ""))
    share = meta.get("cpu_wait_share")
    if share is not None and share > BUSY:
        said.append(f"its threads waited for a core {share:.0%} of their time")
    return "; ".join(said)


def machine_name(m: dict) -> str:
    if m["kind"] == "gpu":
        return m["gpu"]
    return f"{m['cpu']} ({m['threads']} threads, {m['isa']})"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


# ---------------------------------------------------------------------------------------------- tables

def ceilings_table(groups: dict[str, dict]) -> str:
    rows = ["| machine | float32 FMA peak (; bf16 dot products) | best float32 GEMM | other GEMMs | bandwidth (triad) | ridge (DRAM) |",
            "|---|---|---|---|---|---|"]
    for name, g in groups.items():
        c = g["ceilings"]
        gemms = c["gemm_gflops"]
        other = ", ".join(f"{k} {_gflops(v)}" for k, v in gemms.items() if k != "float32") or "-"
        bw = ", ".join(f"{k} {v:,.0f} GB/s" for k, v in c["bandwidth_gbs"].items())
        dram = c["bandwidth_gbs"].get("DRAM") or min(c["bandwidth_gbs"].values())
        bf16 = f"; bf16 {_gflops(c['bf16_peak_gflops'])}" if "bf16_peak_gflops" in c else ""
        rows.append(f"| {name} | {_gflops(c['fp32_peak_gflops'])}, {c.get('peak_isa', '-')}{bf16} | "
                    f"{_gflops(gemms.get('float32', 0)) if gemms.get('float32') else '-'} | {other} | {bw} | "
                    f"{ridge(c['fp32_peak_gflops'], dram):.1f} flop/B |")
    return "\n".join(rows)


def _gflops(v: float) -> str:
    return f"{v / 1e3:,.1f} TFLOP/s" if v >= 1e4 else f"{v:,.0f} GFLOP/s"


def _time(s: float) -> str:
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.2f} ms"


def step_records(group: dict) -> list[dict]:
    return [r for run in group["runs"] if run["kind"] == "steps" for r in run["records"]]


def side_by_side(groups: dict[str, dict]) -> tuple[str, str]:
    """(Markdown table of step times per engine and batch on every machine, the crossover sentence)."""
    names = [n for n, g in groups.items() if step_records(g)]
    times = {n: {(r["engine"], r["batch_size"]): r["median_s"] for r in step_records(groups[n])} for n in names}
    keys = sorted(set().union(*(t.keys() for t in times.values())), key=lambda k: (k[1], k[0]))
    cpus = [n for n in names if groups[n]["machine"]["kind"] == "cpu"]
    gpus = [n for n in names if groups[n]["machine"]["kind"] == "gpu"]
    pair = (cpus[0], gpus[0]) if cpus and gpus else None
    head = ["batch", "engine", *names, *([f"GPU speedup ({pair[1]} vs CPU)"] if pair else [])]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for engine_batch in keys:
        cells = [str(engine_batch[1]), engine_batch[0]]
        cells += [_time(times[n][engine_batch]) if engine_batch in times[n] else "-" for n in names]
        if pair:
            a, b = (times[n].get(engine_batch) for n in pair)
            cells.append(f"{a / b:.2f}x" if a and b else "-")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows), crossover(times, pair) if pair else ""


def crossover(times: dict, pair: tuple[str, str]) -> str:
    """Where the fastest engine on the GPU first beats the fastest on the CPU, over the batch sizes both ran."""
    cpu, gpu = pair
    best = {n: {} for n in pair}
    for n in pair:
        for (engine, batch), t in times[n].items():
            if t < best[n].get(batch, (math.inf, ""))[0]:
                best[n][batch] = (t, engine)
    batches = sorted(set(best[cpu]) & set(best[gpu]))
    if not batches:
        return "The CPU and GPU runs share no batch size: no crossover to show."
    ratio = {b: best[cpu][b][0] / best[gpu][b][0] for b in batches}        # > 1: the GPU is faster
    side = {b: "gpu" if r > TIE else "cpu" if r < 1 / TIE else "even" for b, r in ratio.items()}
    detail = "; ".join(f"batch {b}: CPU {best[cpu][b][1]} {_time(best[cpu][b][0])}, GPU {best[gpu][b][1]} "
                       f"{_time(best[gpu][b][0])} ({ratio[b]:.2f}x)" for b in batches)
    even = [b for b in batches if side[b] == "even"]
    ties = f" (even within {100 * (TIE - 1):.0f}% at batch {', '.join(map(str, even))})" if even else ""
    cpu_wins = [b for b in batches if side[b] == "cpu"]
    if not cpu_wins:
        verdict = f"The GPU's fastest engine wins at every batch size measured{ties}: the crossover lies at or below {batches[0]}."
    elif all(side[b] != "gpu" for b in batches):
        verdict = f"The CPU's fastest engine wins at every batch size measured{ties}, up to {batches[-1]}."
    elif all((side[b] == "gpu") == (b > cpu_wins[-1]) for b in batches if side[b] != "even"):
        after = min(b for b in batches if b > cpu_wins[-1] and side[b] == "gpu")
        verdict = (f"Crossover between batch {cpu_wins[-1]} and {after}: the CPU's fastest engine wins up to "
                   f"{cpu_wins[-1]}, the GPU's from {after} up{ties}.")
    else:
        verdict = (f"No single crossover: the CPU's fastest engine wins at batch {', '.join(map(str, cpu_wins))}, "
                   f"the GPU's at {', '.join(str(b) for b in batches if side[b] == 'gpu')}{ties}.")
    return f"{verdict} Fastest engine per machine - {detail}."


# ---------------------------------------------------------------------------------------------- plots


def points(group: dict) -> list[tuple[str, str, float, float]]:
    """(series, label, intensity, GFLOP/s) of every step, op and GEMM record of a machine."""
    out = []
    for run in group["runs"]:
        for r in run["records"]:
            if run["kind"] == "steps":
                out.append((f"step: {r['engine']}", str(r["batch_size"]), r["flops"] / r["min_bytes"],
                            r["flops"] / r["median_s"] / 1e9))
            elif run["kind"] == "ops":
                name = r["engine"] if ":" in r["engine"] else f"fc1 forward: {r['engine']}"
                out.append((name, str(r["batch_size"]) if r["batch_size"] else "", r["flops"] / r["min_bytes"],
                            r["flops"] / r["median_s"] / 1e9))
            elif run["kind"] == "gemm" and single_product(r["product"]):
                out.append(("GEMM: own (gemm.h)", "", r["flops"] / r["min_bytes"], r["flops"] / r["own_s"] / 1e9))
    return out


def plot_roofline(name: str, group: dict, path: Path) -> None:
    plt = pyplot()
    c = group["ceilings"]
    pts = points(group)
    xs = [p[2] for p in pts] or [1.0]
    lo, hi = min(xs + [0.1]) / 2, max(xs + [ridge(c["fp32_peak_gflops"], min(c["bandwidth_gbs"].values()))]) * 4
    fig, ax = plt.subplots(figsize=(11, 5.5))
    grid = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    peak = c["fp32_peak_gflops"]
    styles = iter(["-", "--", "-.", ":", (0, (1, 3))])
    for level, bw in sorted(c["bandwidth_gbs"].items(), key=lambda kv: kv[1]):
        ax.plot(grid, [attainable(x, peak, bw) for x in grid], color="0.3", lw=1.2, ls=next(styles, ":"),
                label=f"{level} {bw:,.0f} GB/s (triad)")
    ax.axhline(peak, color="k", lw=1.5, label=f"float32 FMA peak {_gflops(peak)}")
    if "bf16_peak_gflops" in c:                  # the roof of bf16 products (vdpbf16ps or AMX), where measured
        ax.axhline(c["bf16_peak_gflops"], color="tab:purple", lw=1.2,
                   label=f"bf16 peak ({c.get('bf16_peak_isa', 'avx512bf16')}) {_gflops(c['bf16_peak_gflops'])}")
    for dtype, g in c["gemm_gflops"].items():
        if g < 1.5 * peak:                       # tensor-core GEMMs sit far above the float32 roof
            ax.axhline(g, color="tab:gray", lw=1, ls="--", label=f"best {dtype} GEMM {_gflops(g)}")
    markers = iter("osD^vP*Xh<>")
    for series in dict.fromkeys(p[0] for p in pts):
        sel = [p for p in pts if p[0] == series]
        ax.scatter([p[2] for p in sel], [p[3] for p in sel], marker=next(markers, "o"), s=28, label=series, zorder=3)
        for p in sel:
            if p[1]:
                ax.annotate(p[1], (p[2], p[3]), textcoords="offset points", xytext=(4, 3), fontsize=6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ys = [p[3] for p in pts] or [1.0]
    ax.set_ylim(min(ys) / 3, peak * 3)
    ax.set_xlabel("arithmetic intensity (flops per byte of least traffic)")
    ax.set_ylabel("achieved GFLOP/s")
    ax.set_title(f"Roofline: {name}\n(labels: batch size)", fontsize=10)
    ax.grid(which="both", alpha=0.2)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))   # outside: no point hidden
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_phases(groups: dict[str, dict], path: Path) -> bool:
    """A bar per engine and batch size, one panel per machine: each profiled phase's share of the
    step (stacked to 100%), the step's unprofiled time written on top. False where no run has phases."""
    from ..engines import PHASES

    panels = [(n, [r for r in step_records(g) if r.get("phases")]) for n, g in groups.items()]
    panels = [(n, rs) for n, rs in panels if rs]
    if not panels:
        return False
    plt = pyplot()
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(8, 0.5 * max(len(rs) for _, rs in panels) + 2),
                                                      3.8 * len(panels)), squeeze=False)
    colors = dict(zip(PHASES, ["tab:blue", "tab:orange", "tab:green", "tab:red"]))
    for ax, (name, rs) in zip(axes[:, 0], panels):
        rs = sorted(rs, key=lambda r: (r["batch_size"], r["engine"]))
        xs = range(len(rs))
        bottom = [0.0] * len(rs)
        for phase in PHASES:
            share = [100 * r["phases"].get(phase, 0.0) / sum(r["phases"].values()) for r in rs]
            ax.bar(xs, share, 0.75, bottom=bottom, color=colors[phase], label=phase)
            bottom = [b + v for b, v in zip(bottom, share)]
        for x, r in zip(xs, rs):
            ax.text(x, 101, _time(r["median_s"]), ha="center", va="bottom", fontsize=6, rotation=90)
        ax.set_xticks(list(xs), [f"{r['engine']}\n{r['batch_size']}" for r in rs], fontsize=7)
        ax.set_ylim(0, 125)
        ax.set_yticks([0, 25, 50, 75, 100])
        ax.set_ylabel("% of the profiled step")
        ax.set_title(f"{name} (on top: the step's unprofiled median time)", fontsize=10)
    axes[0, 0].legend(fontsize=7, ncol=4, loc="upper right", bbox_to_anchor=(1, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ---------------------------------------------------------------------------------------------- report

def write_report(paths: list[Path], out: Path) -> Path:
    """Read the runs, draw the pictures and write out/report.md; returns its path."""
    runs = [load_run(p) for p in paths]
    groups = machines(runs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# SimpleNet on CPU and GPU: rooflines and side-by-side step times", "",
             "Written by `minitorch-clf report` from:", ""]
    lines += [f"- `{'/'.join(Path(r['path']).parts[-2:])}`: {r['kind']} on {machine_name(r['machine'])}" +
              (f" ({said})" if (said := run_conditions(r)) else "") for r in runs]
    lines += ["", "## Machines and their measured ceilings", ""]
    for name, g in groups.items():
        m = g["machine"]
        lines.append(f"- **{name}**: {describe(m)}; torch {m.get('torch', '?')}" +
                     (f", CUDA {m.get('cuda')}, driver {m.get('driver')}, SM clock {m.get('sm_clock_mhz')} MHz, "
                      f"host {m.get('host_cpu')}" if m["kind"] == "gpu" else f", {m.get('cores', '?')} cores"))
    lines += ["", ceilings_table(groups), "",
              "Compute: register-only FMA chains of the widest vector ISA (CPU) or of every CUDA core (GPU); "
              "the GEMMs are torch's at 2048³ (CPU) or 8192³ (GPU). Memory: STREAM's triad a = b + s·c, "
              "12 bytes counted per element, at footprints inside each cache level and far beyond the "
              "last (DRAM). The ridge is peak / DRAM bandwidth: kernels left of it cannot reach the peak "
              "from memory.", ""]
    lines += ["## Rooflines", "",
              "x: flops per byte of the least memory traffic a kernel needs (operands read once, results "
              "written once; for a whole step the batch, the parameters and the optimizer state - "
              "`minitorch_clf/tools/intensity.py`); y: achieved GFLOP/s (the step's GEMM flops over its "
              "median time). Points far under the roof are bound by neither ceiling: by launch and "
              "dispatch overhead, which at SimpleNet's sizes is most of a step. Kernels left of the ridge "
              "(the SGD update, 0.2 flop/B) can at best reach a bandwidth line: which one says where "
              "their data lives.", ""]
    for name, g in groups.items():
        png = f"roofline-{slug(name)}.png"
        plot_roofline(name, g, out / png)
        lines += [f"![roofline on {name}]({png})", ""]
    table, verdict = side_by_side(groups)
    if len([g for g in groups.values() if step_records(g)]) > 0:
        lines += ["## The same steps on each machine", "", table, ""]
        if verdict:
            lines += [verdict, ""]
    if plot_phases(groups, out / "phases.png"):
        lines += ["## Where a step's time goes", "",
                  "Each bar splits a step into the host's time inside the engines' profiler labels "
                  "(torch.profiler, `bench --phases`), as shares of their sum; the figure on top is the "
                  "same step's unprofiled median time. The fused engine runs its phases one call at a "
                  "time for this (its whole-step call and, on a GPU, its CUDA graph have no phases), so "
                  "its split is that of the slower split path. On a GPU the host's time is the step's at "
                  "these sizes: the steps are launch-bound.", "", "![phases](phases.png)", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
