#!/usr/bin/env bash
# The GPU checks in one call, for a machine with an NVIDIA GPU and the project's dependencies present:
#   bash benchmarks/gpu_check.sh OUT_DIR
# installs the project (no dependencies), builds kernels/cuda, runs the GPU tests, times the engines
# (batch 64, 1024, 8192), the first layer's forward per implementation, torch.compile's
# reduce-overhead mode and a 60k-sample epoch, and prints a short table last.
# Writes OUT_DIR/gpu_check.log and OUT_DIR/*.json. Steps run in order of importance; a failing step
# is reported and the rest still run; the exit status says whether any failed.
set -uo pipefail
OUT=${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR="$PWD/.cache/inductor"
PY=${PYTHON:-python3}
CLI="$PY -m minitorch_clf.cli"
status=0
step() { echo; echo "=== $* ($(date +%T))"; "$@" || { echo "FAILED ($?): $*"; status=1; }; }

step nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
step "$PY" -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
step "$PY" -m pip install -q --no-deps --no-build-isolation -e .
step $CLI build --cuda
step "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda_kernels.py tests/test_cuda.py
step $CLI bench --device cuda --engines reference,manual,fused --batch-sizes 64,1024,8192 --repeats 10 \
     --json "$OUT/steps.json"
step $CLI bench --device cuda --ops --batch-sizes 64,1024,8192 --repeats 10 --json "$OUT/ops.json"
step $CLI bench --device cuda --engines reference,compiled-reference,fused --compile-mode reduce-overhead \
     --batch-sizes 64 --repeats 10 --json "$OUT/steps_reduce_overhead.json"
step $CLI bench --device cuda --epoch --engines reference,fused --batch-sizes 64 --json "$OUT/epoch.json"
step "$PY" -m pytest -q -p no:cacheprovider tests/test_ops.py

echo; echo "=== summary"
"$PY" - "$OUT" <<'PY'
import json, sys, pathlib
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    for r in json.loads(f.read_text()):
        t = f"{r['median_s'] * 1e3:9.3f} ms"
        print(f"{f.stem:22s} {r['engine']:22s} {r['loader']:15s} batch {r['batch_size']:5d} {t} "
              f"{r['samples_per_s']:>14,.0f}/s  x{r['speedup'] or 0:.2f}")
PY
echo "gpu_check: exit $status"
exit $status
