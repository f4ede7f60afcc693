#!/usr/bin/env bash
# The README's test command on a fresh clone under another Python (pyenv's), as a user with that Python runs it.
set -uo pipefail
for v in "$@"; do
  d=/tmp/py$v; rm -rf $d; git clone -q /work/main $d; cd $d
  echo "== python $v at $(git rev-parse --short HEAD) ($(date +%T))"
  PYTHON=/root/.pyenv/versions/$v/bin/python bash scripts/bootstrap.sh && .venv/bin/python -m pytest -q -p no:cacheprovider > suite.log 2>&1
  echo "rc $? ($(date +%T))"; tail -1 suite.log
  .venv/bin/minitorch-clf train --no-progress 2>&1 | tail -2
done
