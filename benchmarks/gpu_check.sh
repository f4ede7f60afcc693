#!/usr/bin/env bash
# The GPU checks in one call, for a machine with an NVIDIA GPU and the project's dependencies present:
#   bash benchmarks/gpu_check.sh OUT_DIR
# installs the project (no dependencies), runs the CUDA checks and tests, times the engines
# (batch 64, 1024, 8192; torch.compile default and reduce-overhead; a 60k-sample epoch), and prints a
# short table last. Writes OUT_DIR/gpu_check.log and OUT_DIR/*.json.
set -uo pipefail
OUT=${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR="$PWD/.cache/inductor"
PY=${PYTHON:-python3}
status=0
step() { echo; echo "=== $* ($(date +%T))"; "$@" || { echo "FAILED ($?): $*"; status=1; }; }

step nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
step "$PY" -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
step "$PY" -m pip install -q --no-deps --no-build-isolation -e .
step "$PY" -m minitorch_clf.cli check --device cuda --dtype float64
step "$PY" -m minitorch_clf.cli check --device cuda --dtype float32
step "$PY" -m pytest -q -x -p no:cacheprovider tests/test_cuda.py
ENGINES=reference,manual,compiled-reference
step "$PY" -m minitorch_clf.cli bench --device cuda --engines $ENGINES --batch-sizes 64,1024,8192 \
     --json "$OUT/steps.json"
step "$PY" -m minitorch_clf.cli bench --device cuda --engines reference,compiled-reference \
     --compile-mode reduce-overhead --batch-sizes 64,1024,8192 --json "$OUT/steps_reduce_overhead.json"
step "$PY" -m minitorch_clf.cli bench --device cuda --epoch --engines reference,manual,compiled-reference \
     --batch-sizes 64 --json "$OUT/epoch.json"
step "$PY" -m pytest -q -p no:cacheprovider tests

echo; echo "=== summary"
"$PY" - "$OUT" <<'PY'
import json, sys, pathlib
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    for r in json.loads(f.read_text()):
        t = f"{r['median_s'] * 1e3:9.3f} ms"
        print(f"{f.stem:22s} {r['engine']:20s} {r['loader']:15s} batch {r['batch_size']:5d} {t} "
              f"{r['samples_per_s']:>13,.0f} samples/s  x{r['speedup'] or 0:.2f}")
PY
echo "gpu_check: exit $status"
exit $status
