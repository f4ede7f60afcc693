"""From bench --gemm logs (measure.sh's gemm-N.log): per run, the eight products in one call on the derived plans
against the faster of MKL and OpenBLAS, and each product's time on the tuned plans over its time on the derived
plans where they differ (the "tuned gain" column inverted: above 1, the tuned plan is slower).
    python derived_ratios.py DIR"""
import re, statistics, sys
from pathlib import Path

us = lambda s: float(s.split()[0]) * (1e3 if s.endswith("ms") else 1)
eight = {"64": [], "1024": []}
for log in sorted(Path(sys.argv[1]).glob("gemm-*.log"), key=lambda p: int(p.stem.split("-")[1])):
    out = []
    for line in log.read_text().splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) < 8 or cells[0] not in eight:
            continue
        own, derived = cells[3], cells[4]
        if cells[1].startswith("all eight"):
            times = [c for c in cells[3:] if c.endswith((" us", " ms"))]
            d = us(derived) if derived.endswith((" us", " ms")) else us(own)
            ratio = min(us(times[-2]), us(times[-1])) / d
            eight[cells[0]].append(ratio)
            out.append(f"eight@{cells[0]} on derived {ratio:.2f}x")
        elif derived.endswith((" us", " ms")) and not cells[1].startswith("whole"):
            out.append(f"{cells[0]} {cells[1].split(' =')[0]} tuned/derived {us(own) / us(derived):.2f}")
    print(log.stem, "; ".join(out))
for bs, r in eight.items():
    print(f"eight@{bs} on the derived plans: median {statistics.median(r):.2f}x, range {min(r):.2f}-{max(r):.2f}")
