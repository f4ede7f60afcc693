#!/usr/bin/env bash
# bench alone, then beside a busy loop on one of the two cores: the line under the table and meta.cpu_wait_share.
#   bash bench_busy.sh OUT_DIR     (from the repository root; about a minute)
set -uo pipefail
OUT=${1:?usage: bash bench_busy.sh OUT_DIR}; mkdir -p "$OUT"
B=".venv/bin/minitorch-clf bench --engines reference,fused --batch-sizes 64 --repeats 5"
$B --json "$OUT/bench_alone.json" > "$OUT/bench_alone.log" 2>&1
python3 -c "while True: pass" & loop=$!
$B --json "$OUT/bench_beside_a_loop.json" > "$OUT/bench_beside_a_loop.log" 2>&1
kill $loop
for f in alone beside_a_loop; do
  python3 -c "import json,sys; print(sys.argv[1], 'cpu_wait_share', round(json.load(open(sys.argv[2]))['meta']['cpu_wait_share'], 4))" \
    "$f" "$OUT/bench_$f.json"
done
