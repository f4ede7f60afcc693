#!/usr/bin/env bash
# The step and the epoch op before (HEAD of the sixteenth session's start, 9462255, a worktree at /tmp/oldwt with its
# own kernel build) and after (this checkout), both with the phase clock (apply_phase_clock.py) and the same tuned
# plans (the old build's cache, copied under the new build's identity); processes alternating, ROUNDS pairs a batch.
#   bash ab_steps.sh ROUNDS BATCH... > ab_steps.log
here=$(cd "$(dirname "$0")" && pwd)
rounds=$1; shift
for r in $(seq "$rounds"); do
  for b in "$@"; do
    for side in before after; do
      dir=$([ $side = before ] && echo /tmp/oldwt || pwd)
      echo "== round $r, batch $b, $side"
      (cd "$dir" && PHASE_CLOCK=1 PYTHONPATH="$dir" "$OLDPWD/.venv/bin/python" "$here/step_once.py" "$b" 2>&1)
    done
  done
done
