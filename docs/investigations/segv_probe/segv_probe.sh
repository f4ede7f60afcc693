#!/usr/bin/env bash
# Where does an error raised from an extension op die?   bash docs/investigations/segv_probe/segv_probe.sh OUT_DIR
# (from the repository root, after the project's kernels are built). Every case runs in its own
# process, all at once; a crash prints the signal and, from segv_where.so (LD_PRELOAD), the faulting
# PC as library+offset and a frame-pointer walk. Cases: see call_case.py. The matrix crosses
# TORCH_SHOW_CPP_STACKTRACES=0/1 (1: torch's own unwinder instead of glibc backtrace()) with CUDA
# initialised first or not. Writes OUT_DIR/probe.log.
KIT=$(cd "$(dirname "$0")" && pwd); OUT=${1:?usage: segv_probe.sh OUT_DIR}; mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-python3}; export PROBE_OUT=$OUT PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
{
echo "== versions"
$PY -c "import sys, torch; print(sys.version); print(torch.__version__, torch.version.cuda, 'cxx11abi', torch._C._GLIBCXX_USE_CXX11_ABI)"
$PY -c "import sys; print('python executable', sys.executable)"; c++ --version | head -1; ldd --version | head -1
gcc -shared -fPIC -O1 -o "$OUT/segv_where.so" "$KIT/segv_where.c" -ldl || echo "segv_where.so: build failed"
for how in default linked; do
  $PY "$KIT/call_case.py" build $how 2>"$OUT/build_$how.err" || { echo "boom.cpp ($how): build failed"; tail -5 "$OUT/build_$how.err"; }
done
echo "== the C++ runtime each library was linked with (NEEDED), and how many std::locale symbols it defines itself (a private libstdc++ copy)"
for so in $(find "$OUT" "${MINITORCH_CLF_BUILD_DIR:-$HOME/.cache/minitorch_clf}" -name "*.so" 2>/dev/null); do
  echo "$so: $(readelf -d "$so" | grep -o 'libstdc++[^]]*' | tr '\n' ' ')own std::locale symbols: $(nm -D --defined-only "$so" 2>/dev/null | grep -c ' _ZNSt6locale')"
done
echo "== the toolchain's libstdc++ development links"
ls -la $(c++ -print-file-name=libstdc++.so) $(c++ -print-file-name=libstdc++.a) 2>&1
readlink -f "$(c++ -print-file-name=libstdc++.so)"; c++ -dumpspecs | grep -n "static-libstdc" | head -3
run() {  # case show cuda_first
  local tag="$1_show$2_cuda$3"
  CUDA_FIRST=$3 TORCH_SHOW_CPP_STACKTRACES=$2 LD_PRELOAD="$OUT/segv_where.so" timeout 300 \
    $PY "$KIT/call_case.py" "$1" >"$OUT/$tag.out" 2>"$OUT/$tag.err"
  echo $? >"$OUT/$tag.rc"
}
CASES=${CASES:-aten aten_ops boom_check boom_nowalk boom_std boom_fetcher boom_linked linear linear_cuda ce_cuda}
for c in $CASES; do for s in 0 1; do for f in 0 1; do run "$c" "$s" "$f" & done; done; done; wait
printf '%-14s %-5s %-5s %-4s %s\n' case show cuda rc result
for c in $CASES; do for s in 0 1; do for f in 0 1; do
  tag="${c}_show${s}_cuda${f}"; rc=$(cat "$OUT/$tag.rc")
  res=$(tail -1 "$OUT/$tag.out"); [ -n "$res" ] || res="(died: $(grep -m1 SEGV_WHERE: "$OUT/$tag.err" || tail -1 "$OUT/$tag.err"))"
  printf '%-14s %-5s %-5s %-4s %s\n' "$c" "$s" "$f" "$rc" "$res"
done; done; done
echo "== where each crash landed (first case of each kind)"
for f in "$OUT"/*_show0_cuda1.err; do grep -q SEGV_WHERE "$f" && { echo "-- $(basename "$f" .err)"; grep SEGV_WHERE "$f" | head -16; }; done
} 2>&1 | tee "$OUT/probe.log"
