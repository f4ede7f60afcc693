#!/usr/bin/env bash
# Two `minitorch-clf train --engine fused --epochs 1` started together on a fresh tuning cache, as a user with two
# terminals (or the two ranks of --nproc 2) would, at COMMIT: what each prints of the GEMM tuner.
#   bash two_trains.sh COMMIT OUT.log     (a worktree of COMMIT; its kernels build first, about 2 minutes)
set -uo pipefail
COMMIT=${1:?usage: bash two_trains.sh COMMIT OUT.log}; LOG=$(realpath -m "${2:?usage: bash two_trains.sh COMMIT OUT.log}")
ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
TREE=$(mktemp -d)/tree; TUNE=$(mktemp -d)
git -C "$ROOT" worktree add -q --detach "$TREE" "$COMMIT"
cd "$TREE" && PYTHONPATH="$TREE" "$ROOT/.venv/bin/python" -c "from minitorch_clf import ops; ops.load()"
for i in 1 2; do
  (PYTHONPATH="$TREE" MINITORCH_CLF_TUNE_DIR="$TUNE" timeout 600 "$ROOT/.venv/bin/minitorch-clf" train --engine fused \
     --epochs 1 --no-progress --out "$TREE/run$i" > "$TREE/train$i.log" 2>&1; echo "exit $?" >> "$TREE/train$i.log") &
done
wait
{ echo "commit $(git -C "$TREE" rev-parse --short HEAD), $(date -u +%F\ %T) UTC"
  for i in 1 2; do echo "--- train $i"; cat "$TREE/train$i.log"; done; } > "$LOG"
git -C "$ROOT" worktree remove --force "$TREE"; rm -rf "$TUNE"
cat "$LOG"
