# Steps under a time budget, for a script that must end inside a fixed allowance (benchmarks/gpu_check.sh: a
# device call runs at most 600 s). Source it after setting BUDGET (seconds from the script's start, which bash's
# SECONDS counts); it sets status, failed and out_of_time, which the script reports at its end.
#   step LIMIT CMD...           CMD under timeout: LIMIT seconds or what is left of the budget, whichever is less
#   LABEL=name step LIMIT CMD   the same, named in the log (where CMD reads a script from stdin)
#   in_time NAME                whether something else may start; else NAME is skipped with one line
# A step that fails or times out is reported with its exit status and the script goes on; once under 15 s are
# left, each step is skipped with one line. RESERVE seconds stay for what the script does after its steps.
RESERVE=${RESERVE:-30}
status=0
failed=() out_of_time=()
# left: seconds of the budget left for steps.
left() { echo $((BUDGET - RESERVE - SECONDS)); }
# in_time NAME: whether a step may start (15 s left at least); else NAME is skipped with one line.
in_time() {
  (( $(left) >= 15 )) && return 0
  echo "=== SKIPPED, the budget of $BUDGET s is spent: $1"; out_of_time+=("$1"); status=1; return 1
}
# [LABEL=name] step LIMIT CMD...: CMD under timeout, LIMIT seconds or what is left of the budget, whichever is
# less; LABEL names it in the log where CMD reads a script from stdin.
step() {
  local limit=$1 t0=$SECONDS rc
  shift
  local name=${LABEL:-$*}
  in_time "$name" || return 0
  (( limit > $(left) )) && limit=$(left)
  echo; echo "=== $name ($(date +%T), at most $limit s)"
  timeout -k 10 "$limit" "$@"; rc=$?
  echo "--- $((SECONDS - t0)) s"
  if (( rc == 124 || rc == 137 )); then           # 137: killed 10 s after the timeout (or for memory)
    echo "TIMED OUT after $limit s: $name"; failed+=("$name (timed out)"); status=1
  elif (( rc != 0 )); then
    echo "FAILED ($rc): $name"; failed+=("$name"); status=1
  fi
  return 0
}
