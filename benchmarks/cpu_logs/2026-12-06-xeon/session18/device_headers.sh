#!/usr/bin/env bash
# Whether the kernels' C++ sources compile against the GPU machine's torch (2.11, whose cpp_extension builds with
# -std=c++17; torch 2.14 here builds with -std=c++20): torch 2.11's wheel from the registry, only its headers
# unpacked, every .cpp of kernels/cpu and kernels/common, and the host .cpp of kernels/cuda (with CUDA's headers
# from the .venv's nvidia packages and the toolkit that build.cuda_home() finds), compiled with g++ -fsyntax-only. Prints each file that fails and its first
# errors, then "failed: N". From the repository root:
#   bash benchmarks/cpu_logs/2026-12-06-xeon/session18/device_headers.sh [SCRATCH_DIR]
set -uo pipefail
W=${1:-/tmp/torch211}
mkdir -p "$W"
ls "$W"/torch-2.11.0-*.whl >/dev/null 2>&1 ||
  .venv/bin/pip download -q torch==2.11.0 --no-deps --python-version 3.12 --only-binary=:all: -d "$W" || exit 1
(cd "$W" && unzip -q -o torch-2.11.0-*.whl 'torch/include/*' 'torch/version.py')
grep __version__ "$W/torch/version.py"
I=$W/torch/include
PYINC=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['include'])")
CU=$(ls -d .venv/lib/python3.*/site-packages/nvidia/cu13/include | head -1)
CUDA_INC=$(.venv/bin/python -c "from minitorch_clf.ops import build; print(build.cuda_home() or '/usr/local/cuda')")/include
failed=0
for f in $(find kernels/cpu kernels/common -name '*.cpp' | sort) kernels/cuda/bindings.cpp kernels/cuda/cublaslt.cpp; do
  out=$(g++ -fsyntax-only -std=c++17 -fopenmp -fPIC -DTORCH_EXTENSION_NAME=minitorch_clf -DTORCH_API_INCLUDE_EXTENSION_H \
        -DWITH_CUDA -isystem "$I" -isystem "$I/torch/csrc/api/include" -isystem "$CU" -isystem "$CUDA_INC" -isystem "$PYINC" "$f" 2>&1)
  if [ -n "$out" ]; then echo "== $f"; echo "$out" | grep -m5 error; failed=$((failed + 1)); else echo "ok $f"; fi
done
echo "failed: $failed"
[ "$failed" = 0 ]
