#!/usr/bin/env bash
# Create .venv (if absent) and install the project with its dev extra into it. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
echo "bootstrap: installing minitorch-clf[dev] into .venv (first time: torch is ~5 GB, a few minutes)"
if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' > .venv/pip.log 2>&1; then
  grep -v "is ignored: it is neither a file nor a directory" .venv/pip.log >&2
  echo "bootstrap: pip install failed (full log: .venv/pip.log)" >&2
  exit 1
fi
.venv/bin/python -c "import minitorch_clf, torch; print(f'bootstrap: ready (torch {torch.__version__})')"
