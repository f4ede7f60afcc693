#!/bin/bash
# Each step probe of this folder: its patch applied, the kernels rebuilt, step_ab.py run twice, the patch taken out.
# Run from the repository root with a clean kernels/:   bash benchmarks/cpu_logs/2026-12-07-xeon-s24/step_probes.sh
set -e
D=benchmarks/cpu_logs/2026-12-07-xeon-s24
PY=".venv/bin/python"
build() { PYTHONPATH=. $PY -c "from minitorch_clf import ops; ops.load()" > /dev/null; }
probe() {   # probe PATCH LOG step_ab.py-arguments...
  local patch=$1 log=$2; shift 2
  git apply "$D/$patch"; build
  for run in 1 2; do echo "run $run"; PYTHONPATH=. $PY $D/step_ab.py "$@"; done > "$D/$log" 2>&1
  git checkout -q kernels/; build
  cat "$D/$log"
}
probe ride_pf.patch ride_pf.log --mode now: --mode cols:RIDE_COLS=1 --mode pf:RIDE_COLS=1,PF_NEXT=1 \
  --mode pft1:RIDE_COLS=1,PF_NEXT=2 --mode noop:RIDE_COLS=1,PF_NEXT=9 --bound noop 1024 64 256
probe ride_lines.patch ride_lines.log --mode now: --mode cols:RIDE_COLS=1 --mode cols+lines:RIDE_COLS=1,PF_LINES=1 \
  --mode now+lines:PF_LINES=1 1024 64 256
probe scratch_c.patch scratch_c.log --mode now: --mode scratch:SCRATCH_C=1 64 32 128
probe pack_orders.patch pack_a_step.log --mode now: --mode A-k-outer:PACK_K_OUTER=1 1024 64 256
probe sgd_fixed.patch sgd_fixed.log --mode now: --mode fixed32:SGD_FIXED=1 64 32 128
