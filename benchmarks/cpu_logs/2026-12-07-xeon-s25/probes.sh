#!/bin/bash
# This folder's probes, from the repository root with a clean kernels/:
#   bash benchmarks/cpu_logs/2026-12-07-xeon-s25/probes.sh
set -e
D=benchmarks/cpu_logs/2026-12-07-xeon-s25
PY=".venv/bin/python"
build() { PYTHONPATH=. $PY -c "from minitorch_clf import ops; ops.load()" > /dev/null; }
build
for run in 1 2; do echo "run $run"; PYTHONPATH=. $PY $D/pair.py 1024 2>&1 | grep batch; done > $D/pair.log
for t in 2 1; do echo "OMP_NUM_THREADS=$t"; OMP_NUM_THREADS=$t PYTHONPATH=. $PY $D/bias_pass.py 1024 2>&1 | grep bias; done > $D/bias_pass.log
g++ -O3 -march=native -ffp-contract=off $D/tile_pattern.cpp -o /tmp/tile_pattern && for run in 1 2 3; do /tmp/tile_pattern; done > $D/tile_pattern.log
git apply $D/a_ahead.patch; build
for round in 1 2; do for m in 0 1 2; do echo "A_AHEAD=$m"; A_AHEAD=$m PYTHONPATH=. $PY $D/cold.py 1024 2>&1 | grep batch; done; done > $D/a_ahead.log
git checkout -q kernels/; build
PYTHONPATH=. $PY $D/dw_by_k_step.py 1024 512 256 2>&1 | grep batch > $D/dw_by_k_step.log
# The tuner's full search at 1024 (it rewrites that batch's cache entry; save the cache's tune/ folder first to keep it)
.venv/bin/minitorch-clf tune --batch-sizes 1024 > $D/tune_1024_full.log 2>&1
g++ -O3 -mavx512f -mavx512vl -mavx512dq -ffp-contract=off $D/bias_loop.cpp -o /tmp/bias_loop && (for o in 128 64; do echo "O=$o"; /tmp/bias_loop $o; done) > $D/bias_loop.log
git apply $D/a_lead.patch; build
for run in 1 2; do echo "run $run"; PYTHONPATH=. $PY $D/cold_lead.py 1024 2>&1 | grep batch; done > $D/a_lead_cold.log
for run in 1 2; do echo "run $run"; PYTHONPATH=. $PY benchmarks/cpu_logs/2026-12-07-xeon-s24/step_ab.py --mode now: \
  --mode lead1:A_LEAD=1 --mode lead2:A_LEAD=2 1024 256 64 2>&1 | grep batch; done > $D/a_lead_step.log
for run in 1 2; do echo "run $run"; PYTHONPATH=. $PY $D/epoch_lead.py 1024 2>&1 | grep batch; done > $D/a_lead_epoch.log
git checkout -q kernels/; build
for run in 1 2; do echo "run $run"; PYTHONPATH=. $PY $D/sequence.py 1024 2>&1 | grep batch; done > $D/sequence.log
