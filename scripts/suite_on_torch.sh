#!/usr/bin/env bash
# The whole test suite on a fresh clone of HEAD with another torch: how pyproject's torch floor was found.
#   bash scripts/suite_on_torch.sh 2.8.0 0.23.0 [/tmp/suite-torch-2.8.0]
# makes the clone and its .venv in the folder (about 6 GB: PyPI's CUDA wheels), installs that torch and
# torchvision first, then the project as scripts/bootstrap.sh does, and runs the README's test command.
# The log is <folder>.log; the exit status is pytest's. Remove the folder afterwards.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bash scripts/suite_on_torch.sh TORCH_VERSION TORCHVISION_VERSION [FOLDER]" >&2
  exit 2
fi
torch_v=$1 vision_v=$2
dir=${3:-/tmp/suite-torch-$torch_v}
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -e "$dir" ]; then
  echo "suite_on_torch: $dir exists; remove it or name another folder" >&2
  exit 2
fi
git clone -q "$repo" "$dir"
cd "$dir"
"${PYTHON:-python3}" -m venv .venv
echo "suite_on_torch: installing torch==$torch_v torchvision==$vision_v into $dir/.venv"
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==$torch_v" "torchvision==$vision_v" \
  > .venv/torch-pip.log 2>&1 || { tail -5 .venv/torch-pip.log >&2; exit 1; }
bash scripts/bootstrap.sh
.venv/bin/python -m pytest -q -p no:cacheprovider 2>&1 | tee "$dir.log" | tail -15
exit "${PIPESTATUS[0]}"
