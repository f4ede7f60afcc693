#!/usr/bin/env bash
# The fused engine's Adam step before (9462255, a worktree at /tmp/oldwt with its own kernel build) and after (this
# checkout), processes alternating, ROUNDS pairs a batch, derived plans.   bash ab_adam.sh ROUNDS BATCH... > ab_adam.log
here=$(cd "$(dirname "$0")" && pwd)
rounds=$1; shift
for r in $(seq "$rounds"); do
  for b in "$@"; do
    for side in before after; do
      dir=$([ $side = before ] && echo /tmp/oldwt || pwd)
      echo "== round $r, batch $b, $side"
      (cd "$dir" && MINITORCH_CLF_TUNE=0 PYTHONPATH="$dir" "$OLDPWD/.venv/bin/python" "$here/adam_once.py" "$b" 2>&1)
    done
  done
done
