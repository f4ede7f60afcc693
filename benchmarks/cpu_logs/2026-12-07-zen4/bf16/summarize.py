"""Issue 29's CPU measure from bench's JSON in this folder: per run the fused bf16 step against the fused float32 one
and against the seed under autocast, at each batch; then the median and range.   python summarize.py [DIR]"""
import json, statistics, sys
from pathlib import Path

d = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
ratios = {}
for f in sorted(d.glob("steps-*.json")):
    recs = json.loads(f.read_text())["records"]
    t = {(r["engine"], r["batch_size"]): r["median_s"] for r in recs}
    line = []
    for bs in sorted({b for _, b in t}):
        for what, num in (("bf16/f32", "fused"), ("bf16/seed-autocast", "reference:bf16")):
            v = t[num, bs] / t["fused:bf16", bs]
            ratios.setdefault((what, bs), []).append(v)
            line.append(f"{what}@{bs} {v:.2f}x")
    print(f.name, "  ".join(line))
for (what, bs), v in sorted(ratios.items(), key=lambda kv: (kv[0][0], kv[0][1])):
    print(f"{what:20s} batch {bs:5d}: median {statistics.median(v):.2f}x, range {min(v):.2f}-{max(v):.2f}x")
