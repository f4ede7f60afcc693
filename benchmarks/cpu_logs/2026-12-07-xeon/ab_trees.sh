#!/usr/bin/env bash
# The fused step in float32 and bf16 at 256 and 1024 on two trees' code, alternating processes, derived plans
# (MINITORCH_CLF_TUNE=0: the code, not a search's outcome):  bash ab_trees.sh OLD_TREE NEW_TREE PAIRS OUT
OLD=$1; NEW=$2; OUT=$4; mkdir -p "$OUT"
for i in $(seq 1 "$3"); do
  for side in old new; do
    tree=$OLD; [ $side = new ] && tree=$NEW
    (cd "$tree" && MINITORCH_CLF_TUNE=0 PYTHONPATH="$tree" /work/main/.venv/bin/python -m minitorch_clf.cli bench \
      --engines fused --precision float32,bf16 --batch-sizes 256,1024 --repeats 9 > "$OUT/$side-$i.log" 2>&1)
  done
done
