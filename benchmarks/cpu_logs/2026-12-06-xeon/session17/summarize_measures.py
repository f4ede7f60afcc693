"""Issue 28's measures from measure.sh's logs: per run, the eight products own / the faster of MKL and OpenBLAS
at 64 and 1024, the step's % of the FMA peak there, the step's time, and the epoch's fused / reference ratio.
    python summarize_measures.py DIR"""
import re, statistics, sys
from pathlib import Path

us = lambda s: float(s.split()[0]) * (1e3 if s.endswith("ms") else 1)
d = Path(sys.argv[1]); rows = []
for gemm in sorted(d.glob("gemm-*.log")):
    run, text = gemm.stem.split("-")[1], gemm.read_text()
    out = {"run": run, "peak": re.search(r"avx512 ([\d.]+) GFLOP/s", text).group(1)}
    for bs in ("64", "1024"):
        for line in text.splitlines():
            cells = re.split(r"\s{2,}", line.strip())
            if cells[0] != bs: continue
            if cells[1].startswith("all eight"):
                times = [c for c in cells[3:] if c.endswith(" us") or c.endswith(" ms")]
                own = us(cells[3]); derived_present = cells[4] != "= own" and "us" in cells[4]
                aten, blas = us(times[-2]), us(times[-1])       # ATen/MKL, OpenBLAS: the last two times
                out[f"eight@{bs}"] = f"{min(aten, blas) / own:.2f}"
            if cells[1].startswith("whole SGD step"):
                out[f"step@{bs}"] = f"{cells[3]} {cells[-2]}%"
    epoch = (d / f"epoch-{run}.log").read_text()
    speedup = lambda engine, loader: re.search(rf"^{engine}\s+{loader}\s+64\s+([\d.]+)\s+[\d.]+\s+[\d,]+\s+([\d.]+)x",
                                             epoch, re.M).groups()
    (fused_s, ratio), (seed_s, _), (jax_s, _) = speedup("fused", "tensor"), speedup("reference", "dataloader"), speedup("jax", "tensor")
    out["epoch"] = f"{ratio}x (fused {fused_s} s, seed {seed_s} s, jax/fused {float(jax_s) / float(fused_s):.1f}x)"
    rows.append(out)
for r in rows: print(r)
for key in ("eight@64", "eight@1024"):
    v = [float(r[key]) for r in rows]; print(key, "median", statistics.median(v), "range", min(v), max(v))
v = [float(r["epoch"].split("x")[0]) for r in rows]; print("epoch median", statistics.median(v), "range", min(v), max(v))
for key in ("step@64", "step@1024"):
    v = [float(r[key].split()[-1][:-1]) for r in rows]; print(key, "% peak median", statistics.median(v), "range", min(v), max(v))
