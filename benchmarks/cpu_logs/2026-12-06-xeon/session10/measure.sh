#!/usr/bin/env bash
# Issue 28's and 29's measures on this CPU, one after another (nothing else running), from the repository root.
set -u
D=benchmarks/cpu_logs/2026-12-06-xeon/session10
B=.venv/bin/minitorch-clf
for i in 1 2 3 4 5; do
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $B bench --gemm --batch-sizes 64,1024 --repeats 15 > $D/gemm-$i.log 2>&1
done
for i in 1 2 3; do $B bench --epoch --engines reference,fused,jax --batch-sizes 64 > $D/epoch-$i.log 2>&1; done
$B bench --engines reference,fused,fused@avx2,jax --batch-sizes 1,4,16,64,1024 > $D/steps.log 2>&1
for i in 1 2 3; do $B bench --engines fused --precision float32,bf16 --batch-sizes 1024 --repeats 15 > $D/bf16-$i.log 2>&1; done
echo done > $D/measure.done
