#!/usr/bin/env bash
# Issue 28's measures, one after another, nothing else running: from the repository root,
#   bash benchmarks/cpu_logs/2026-12-06-xeon/session17/final/measure.sh FIRST LAST
D=benchmarks/cpu_logs/2026-12-06-xeon/session17/final
for i in $(seq "$1" "$2"); do
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/minitorch-clf bench --gemm --batch-sizes 64,1024 > $D/gemm-$i.log 2>&1
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/minitorch-clf bench --epoch --engines reference,fused,jax --batch-sizes 64 > $D/epoch-$i.log 2>&1
done
