import re, sys, statistics, glob
for pat in sys.argv[1:]:
    rows = {}
    for f in sorted(glob.glob(pat)):
        for line in open(f):
            m = re.match(r"(64|1024)\s+(all eight|whole SGD step)", line)
            if not m: continue
            us = [float(x) for x in re.findall(r"([\d.]+) us", line)]
            pct = re.findall(r"\s(\d+)\s+(\d+)\s*$", line)[0]
            bs, what = m.groups()
            if what == "all eight":
                own, mkl, blas = us[0], us[-2], us[-1]
                rows.setdefault((bs, "eight own/best"), []).append(min(mkl, blas) / own)
                rows.setdefault((bs, "eight own/MKL"), []).append(mkl / own)
            else:
                rows.setdefault((bs, "step % peak"), []).append(int(pct[0]))
                rows.setdefault((bs, "step own us"), []).append(us[0])
                if "same plans" not in line: rows.setdefault((bs, "step tuned gain"), []).append(us[1] / us[0])
    print(pat)
    for k, v in rows.items():
        print(f"  {k[0]:>5} {k[1]:16s} " + ", ".join(f"{x:.2f}" if isinstance(x, float) else str(x) for x in v) + f"  median {statistics.median(v):.2f}")
