#!/usr/bin/env bash
# Issue 28's measures, one after another, nothing else running: from the repository root,
#   bash benchmarks/cpu_logs/2026-12-06-xeon/session18/measure.sh OUT_DIR FIRST LAST
# (OUT_DIR gets gemm-N.log and epoch-N.log; session17/summarize_measures.py OUT_DIR sums them up)
OUT=$1; mkdir -p "$OUT"
for i in $(seq "$2" "$3"); do
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/minitorch-clf bench --gemm --batch-sizes 64,1024 > "$OUT/gemm-$i.log" 2>&1
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/minitorch-clf bench --epoch --engines reference,fused,jax --batch-sizes 64 > "$OUT/epoch-$i.log" 2>&1
done
