# ab.sh PAIRS: derived_step.py in this build (new) and in worktrees of 3ed49ab (the L1 rule) and c3fe07d
# (flops alone), processes alternating, at the batches where the new rule's plans differ from the L1 rule's.
d=$(dirname $0); py=/work/main/.venv/bin/python
run() { for tree in /work/main /tmp/ab_l1 /tmp/ab_flops; do
          echo "$(basename $tree) SIZES=$1: $(SIZES=$1 PYTHONPATH=$tree $py $d/derived_step.py $2 $3)"; done; }
for p in $(seq $1); do
  run 784,128,64,10 1,16,256
  run 784,32,10 1,16,1024
  run 784,512,256,10 64
  run 784,1024,1024,10 16
done
