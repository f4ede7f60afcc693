"""The bench JSON that `bench --json` writes and `report` reads: its version and every field, with what
each must hold (type and range; null only where bench writes it), and the check of a whole document.
Below bench.py (the writer) and report.py (the reader), so that both name one schema."""
from __future__ import annotations

import math
from pathlib import Path

SCHEMA = "minitorch-clf-bench/2"


class SchemaError(ValueError):
    """A document that is not a bench JSON of this schema; the message names the file and the field."""


# Every field a bench JSON holds, with what it must be: (test, what the error says was expected).

def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _positive(v) -> bool:
    return _is_number(v) and v > 0


def _maybe(spec):
    test, what = spec
    return (lambda v: v is None or test(v)), f"null or {what}"


TEXT = (lambda v: isinstance(v, str) and bool(v.strip())), "a non-empty string"
COUNT = (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0), "an integer >= 0"
RANKS = (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1), "an integer >= 1"
POSITIVE = _positive, "a finite number > 0"
NONNEG = (lambda v: _is_number(v) and v >= 0), "a finite number >= 0"
PHASES = (lambda v: v is None or (isinstance(v, dict) and all(isinstance(k, str) and NONNEG[0](x) for k, x in v.items())),
          "null or an object of seconds >= 0 per phase")
BATCH = COUNT[0], "an integer >= 0 (0: no batch, e.g. an optimizer update)"

_TIMED = {"engine": TEXT, "loader": TEXT, "device": TEXT, "batch_size": BATCH, "median_s": POSITIVE, "iqr_s": NONNEG,
          "samples_per_s": NONNEG, "speedup": _maybe(POSITIVE), "gflops": _maybe(NONNEG),
          "pct_matmul": _maybe(NONNEG), "pct_peak": _maybe(NONNEG), "first_steps_s": _maybe(NONNEG),
          "epoch_s": _maybe(NONNEG), "flops": POSITIVE, "min_bytes": POSITIVE, "phases": PHASES}   # bench.Record
RECORD_FIELDS = {
    "steps": _TIMED,
    "ops": _TIMED,
    "epoch": {**_TIMED, "flops": _maybe(POSITIVE), "min_bytes": _maybe(POSITIVE)},
    "gemm": {"batch_size": BATCH, "product": TEXT, "shape": TEXT, "flops": POSITIVE, "min_bytes": POSITIVE,   # GemmRecord
             "own_s": POSITIVE, "aten_s": POSITIVE, "speedup": POSITIVE, "own_gflops": POSITIVE,
             "aten_gflops": POSITIVE, "own_pct_peak": NONNEG, "aten_pct_peak": NONNEG,
             "own_avx2_s": _maybe(POSITIVE), "blas_s": _maybe(POSITIVE)},
    "data-parallel": {"engine": TEXT, "nproc": RANKS, "batch_size": BATCH, "median_s": POSITIVE,            # DpRecord
                      "allreduce_s": _maybe(NONNEG), "samples_per_s": POSITIVE, "efficiency": _maybe(NONNEG),
                      "grad_bytes": _maybe(COUNT)},
}
# Fields a record may leave out (a later version added them; older files still read).
OPTIONAL_RECORD_FIELDS = {"gemm": {"own_derived_s": _maybe(POSITIVE)},
                          **{kind: {"vs_graphed": _maybe(POSITIVE)} for kind in ("steps", "ops", "epoch")}}   # bench.Record
KINDS = tuple(RECORD_FIELDS)
PLAN_FIELDS = {"batch_size": BATCH, "product": TEXT, "shape": TEXT, "plan": TEXT,
               "tuned": (lambda v: isinstance(v, bool), "true or false")}                       # ops.tune.in_force
GEMM_PLANS = (lambda v: isinstance(v, list) and all(isinstance(p, dict) and set(p) == set(PLAN_FIELDS) and
                                                    all(t(p[k]) for k, (t, _) in PLAN_FIELDS.items()) for p in v),
              f"a list of the GEMM's plans, each with {', '.join(PLAN_FIELDS)}")
# bench's readings of a cache line's round trip between the cores of threads 0 and 1 (cmd_bench._RoundTrip)
ROUND_TRIPS = (lambda v: isinstance(v, dict) and set(v) == {"start", "end"} and _positive(v["start"]) and
               _positive(v["end"]), "an object of ns at the start and the end, each a finite number > 0")
META_FIELDS = {"optimizer": TEXT, "activation": TEXT, "compile_mode": _maybe(TEXT), "matmul_gflops": _maybe(POSITIVE),
               "peak_gflops": _maybe(POSITIVE), "backend": TEXT,
               "gemm_plans": GEMM_PLANS,
               "cpu_wait_share": _maybe(NONNEG),
               "core_round_trip_ns": _maybe(ROUND_TRIPS)}    # each optional: a kind writes some of them
MACHINE_FIELDS = {"cpu": {"cpu": TEXT, "threads": RANKS, "isa": TEXT, "caches": (lambda v: isinstance(v, dict), "an object")},
                  "gpu": {"gpu": TEXT, "sms": RANKS}}
BANDWIDTHS = (lambda v: isinstance(v, dict) and bool(v) and all(_positive(x) for x in v.values()),
              "an object of positive figures")
# A CPU with AVX512-BF16: the peak of its bf16 kernel (vdpbf16ps, or AMX tiles where it has them), and which.
OPTIONAL_CEILING_FIELDS = {"bf16_peak_gflops": POSITIVE, "bf16_peak_isa": TEXT}
CEILING_FIELDS = {"fp32_peak_gflops": POSITIVE, "gemm_gflops": (lambda v: isinstance(v, dict) and all(
    _positive(x) for x in v.values()), "an object of positive figures"), "bandwidth_gbs": BANDWIDTHS}



def check_run(doc, path: Path) -> None:
    """SchemaError naming `path` and the first field of `doc` (parsed JSON) that is missing or wrong."""
    if not isinstance(doc, dict):
        hint = " (an older bench JSON: rerun `minitorch-clf bench --json`)" if isinstance(doc, list) else ""
        raise SchemaError(f"{path}: expected a JSON object with schema {SCHEMA!r}{hint}")
    if doc.get("schema") != SCHEMA:
        raise SchemaError(f"{path}: schema {doc.get('schema')!r}, expected {SCHEMA!r} "
                          "(rerun `minitorch-clf bench --json` with this version)")
    if doc.get("kind") not in KINDS:
        raise SchemaError(f"{path}: kind {doc.get('kind')!r}, expected one of {', '.join(KINDS)}")
    machine, ceilings = doc.get("machine"), doc.get("ceilings")
    if not isinstance(machine, dict) or machine.get("kind") not in ("cpu", "gpu"):
        raise SchemaError(f"{path}: machine: expected a record with kind 'cpu' or 'gpu'")
    _check(path, "machine", machine, MACHINE_FIELDS[machine["kind"]])
    if not isinstance(ceilings, dict):
        raise SchemaError(f"{path}: ceilings: missing (write the JSON with `bench --json`, which measures them)")
    _check(path, "ceilings", ceilings, CEILING_FIELDS)
    _check(path, "ceilings", ceilings, {k: v for k, v in OPTIONAL_CEILING_FIELDS.items() if k in ceilings})
    meta = doc.get("meta")
    if not isinstance(meta, dict):
        raise SchemaError(f"{path}: meta: expected an object (what `bench --json` ran with), got {meta!r}")
    _check(path, "meta", meta, {k: v for k, v in META_FIELDS.items() if k in meta})
    records = doc.get("records")
    if not isinstance(records, list) or not records:
        raise SchemaError(f"{path}: records: expected a non-empty list")
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise SchemaError(f"{path}: records[{i}]: expected an object")
        _check(path, f"records[{i}]", r, RECORD_FIELDS[doc["kind"]])
        optional = OPTIONAL_RECORD_FIELDS.get(doc["kind"], {})
        _check(path, f"records[{i}]", r, {k: v for k, v in optional.items() if k in r})


def _check(path: Path, where: str, record: dict, fields: dict) -> None:
    """Every field of `fields` present in `record` and as its spec says; else one line naming the first."""
    missing = [f for f in fields if f not in record]
    if missing:
        raise SchemaError(f"{path}: {where}: missing {', '.join(missing)}")
    for name, (test, what) in fields.items():
        if not test(record[name]):
            raise SchemaError(f"{path}: {where}: {name}: expected {what}, got {record[name]!r}")
