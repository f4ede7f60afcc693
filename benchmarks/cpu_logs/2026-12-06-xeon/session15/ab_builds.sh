#!/usr/bin/env bash
# The step before (5b13edc, a worktree at /tmp/oldwt with its own kernel build) and after (this checkout),
# processes alternating, ROUNDS pairs: bench --engines fused --precision float32,bf16 at 64 and 1024.
#   bash benchmarks/cpu_logs/2026-12-06-xeon/session15/ab_builds.sh ROUNDS > ab_builds.log
for r in $(seq "$1"); do
  for side in before after; do
    dir=$([ $side = before ] && echo /tmp/oldwt || pwd)
    echo "== round $r, $side ($(git -C "$dir" rev-parse --short HEAD))"
    (cd "$dir" && PYTHONPATH="$dir" "$OLDPWD/.venv/bin/python" -m minitorch_clf.cli bench --engines fused \
       --precision float32,bf16 --batch-sizes 64,1024 2>&1 | grep -E "^fused|FMA peak")
  done
done
