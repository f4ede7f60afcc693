# ab2.sh PAIRS: as ab.sh, this build against the L1 rule's (3ed49ab) alone, where the first three pairs
# were closest (784-512-256-10 at 64, SimpleNet at 256), and with AVX2 named.
d=$(dirname $0); py=/work/main/.venv/bin/python
run() { for tree in /work/main /tmp/ab_l1; do
          echo "$(basename $tree) SIZES=$1 $3: $(SIZES=$1 PYTHONPATH=$tree $py $d/derived_step.py $2 $3)"; done; }
for p in $(seq $1); do
  run 784,512,256,10 64
  run 784,128,64,10 256
  run 784,32,10 1,1024 avx2
  run 784,128,64,10 1,256 avx2
done
