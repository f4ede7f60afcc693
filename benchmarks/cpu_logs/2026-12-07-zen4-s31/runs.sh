#!/usr/bin/env bash
# Issue 29's CPU measure, N runs of bench (fused and the seed, float32 and bf16, 64/256/1024) into DIR, each run
# between two readings of a cache line's round trip between CPU 0 and CPU 1 (pingpong.c, ns), in DIR/placement.txt.
#   bash runs.sh DIR N
set -u
D=$1; N=$2; mkdir -p "$D"
gcc -O2 -pthread "$(dirname "$0")/pingpong.c" -o /tmp/pingpong_probe
for i in $(seq 1 "$N"); do
  a=$(/tmp/pingpong_probe)
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/minitorch-clf bench --engines reference,fused \
      --precision float32,bf16 --batch-sizes 64,256,1024 --json "$D/steps-$i.json" > "$D/steps-$i.log" 2>&1
  b=$(/tmp/pingpong_probe)
  echo "steps-$i round trip before ${a} ns, after ${b} ns" | tee -a "$D/placement.txt"
done
