# epilogue_ab.sh PAIRS: the SGD step with each weight updated in its dW product's epilogue (this build)
# against 3ac1c48 (a worktree at /tmp/ab_grain: the update after the backward), processes alternating, the
# order swapped every pair; derived plans and tuned plans (each build its own short search, cached).
d=$(dirname $0); py=/work/main/.venv/bin/python
one() { echo "$(basename $1) tune=$2: $(MINITORCH_CLF_TUNE=$2 PYTHONPATH=$1 $py $d/derived_step.py 1,16,64,256,1024)"; }
for p in $(seq $1); do
  if [ $((p % 2)) = 1 ]; then order="/work/main /tmp/ab_grain"; else order="/tmp/ab_grain /work/main"; fi
  for t in 0 1; do for tree in $order; do one $tree $t; done; done
done
