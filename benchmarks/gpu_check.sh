#!/usr/bin/env bash
# The GPU checks in one call, for a machine with an NVIDIA GPU and the project's dependencies present:
#   bash benchmarks/gpu_check.sh OUT_DIR
# installs the project (no dependencies), builds kernels/cuda, runs the error probe
# (benchmarks/segv_probe), the GPU tests and test_ops.py (bad inputs each in a child process), times
# the engines (batch 64, 1024, 8192), the 60k-sample epoch (the seed's loop, steps, one graph per
# epoch) with the kernels of one step, and the first layer's forward per implementation; prints a
# short table last. Writes OUT_DIR/gpu_check.log, OUT_DIR/probe.log and OUT_DIR/*.json (six files).
# Steps run in order of importance; a failing step is reported and the rest still run; the exit
# status says whether any failed. About 4 minutes on an H200 with 16 cores.
set -uo pipefail
OUT=${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
exec > >(tee "$OUT/gpu_check.log") 2>&1
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR="$PWD/.cache/inductor"
PY=${PYTHON:-python3}
CLI="$PY -m minitorch_clf.cli"
SCRATCH=$(mktemp -d)                 # many small files (probe cases, profiler traces) stay here
status=0
step() { echo; echo "=== $* ($(date +%T))"; "$@" || { echo "FAILED ($?): $*"; status=1; }; }

echo "commit: ${GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
step nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
step "$PY" -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
step "$PY" -m pip install -q --no-deps --no-build-isolation -e .
step $CLI build --cuda
step bash benchmarks/segv_probe/segv_probe.sh "$SCRATCH/probe"
cp "$SCRATCH/probe/probe.log" "$OUT/probe.log" 2>/dev/null
step "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda_kernels.py tests/test_cuda.py tests/test_ops.py
step $CLI bench --device cuda --engines reference,manual,fused --batch-sizes 64,1024,8192 --repeats 10 \
     --json "$OUT/steps.json"
step "$PY" benchmarks/gpu_epoch.py --json "$OUT/gpu_epoch.json"
step $CLI bench --device cuda --epoch --engines reference,fused --batch-sizes 64 --json "$OUT/epoch.json"
step $CLI bench --device cuda --ops --batch-sizes 64,1024,8192 --repeats 10 --json "$OUT/ops.json"
step $CLI profile --device cuda --engine fused --steps 5 --out "$SCRATCH/profile"

echo; echo "=== summary"
"$PY" - "$OUT" <<'PY'
import json, sys, pathlib
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    records = json.loads(f.read_text())
    if isinstance(records, dict):                  # gpu_epoch.json
        for name, ts in records["epoch_s"].items():
            print(f"{f.stem:14s} {name:22s} epochs (ms): " + " ".join(f"{t * 1e3:.1f}" for t in ts))
        continue
    for r in records:
        t = f"{r['median_s'] * 1e3:9.3f} ms"
        print(f"{f.stem:14s} {r['engine']:22s} {r['loader']:15s} batch {r['batch_size']:5d} {t} "
              f"{r['samples_per_s']:>14,.0f}/s  x{r['speedup'] or 0:.2f}")
PY
grep -E "^(aten|boom|linear|ce_)" "$OUT/probe.log" | awk '{print "probe", $0}'
echo "gpu_check: exit $status"
exit $status
