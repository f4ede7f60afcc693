"""Medians of ab_steps.log: per batch, before and after, the step, the epoch op and each phase of the clock, with
after / before of the medians and the range of the per-round ratios (rounds pair a before and an after process).
    python summarize_ab.py ab_steps.log"""
import collections, re, statistics, sys

runs = collections.defaultdict(lambda: collections.defaultdict(list))   # (batch, side) -> name -> [us per round]
key = None
for line in open(sys.argv[1]):
    if m := re.match(r"== round (\d+), batch (\d+), (\w+)", line):
        key = (int(m[2]), m[3])
    elif m := re.match(r"phase (.+?)\s+median\s+([\d.]+) us", line):
        if 0 < float(m[2]) < 1e6:   # the phases the step passes (cut by rows, it passes neither mark 3 nor 4)
            runs[key][m[1].strip()].append(float(m[2]))
    elif m := re.match(r"batch \d+: step ([\d.]+) us .*epoch op ([\d.]+) us", line):
        runs[key]["step (Python timer)"].append(float(m[1]))
        runs[key]["epoch op, a step"].append(float(m[2]))
for b in sorted({k[0] for k in runs}):
    before, after = runs[(b, "before")], runs[(b, "after")]
    print(f"batch {b} ({len(after['step (Python timer)'])} rounds)           before us    after us   after/before (rounds' range)")
    for name in before:
        x, y = before[name], after[name]
        if len(x) != len(y) or not x:
            continue
        r = [a / c for a, c in zip(y, x) if c > 0]
        print(f"  {name:28s} {statistics.median(x):9.2f} {statistics.median(y):11.2f}   {statistics.median(y) / statistics.median(x):.3f}"
              f" ({min(r):.3f}-{max(r):.3f})")
