"""`minitorch-clf report`: renders from recorded bench JSON (CPU alone; CPU + H200), states the
crossover right on constructed cases, and turns every bad input into one line and exit 2."""
import json
from pathlib import Path

import pytest

from minitorch_clf.cli import main
from minitorch_clf.tools import report as R

DATA = Path(__file__).parent / "data"
CPU, GPU, GEMM = DATA / "bench_cpu_steps.json", DATA / "bench_h200_steps.json", DATA / "bench_cpu_gemm.json"


def test_report_from_a_cpu_run(tmp_path, capsys):
    assert main(["report", str(CPU), str(GEMM), "--out", str(tmp_path / "r")]) == 0
    md = (tmp_path / "r" / "report.md").read_text()
    pngs = sorted(p.name for p in (tmp_path / "r").glob("*.png"))
    assert pngs == ["phases.png", "roofline-amd-epyc-2-threads-avx512.png"]
    assert "![roofline on AMD EPYC (2 threads, avx512)](roofline-amd-epyc-2-threads-avx512.png)" in md
    assert "GPU speedup" not in md and "Crossover" not in md            # one machine: nothing to compare
    assert "| 64 | fused |" in md
    assert (tmp_path / "r" / "phases.png").read_bytes()[:4] == b"\x89PNG"
    assert "wrote" in capsys.readouterr().out


def test_report_says_where_a_runs_threads_sat_and_whether_they_waited(tmp_path):
    """run_conditions: the cores' round trip at the start and after the rounds (bench --json's meta), flagged where it
    moved 2x; the wait for a core where over cpu_wait.BUSY; nothing for a run without them (an older file, one
    thread)."""
    doc = json.loads(CPU.read_text())
    runs = []
    for name, meta in [("moved", {"core_round_trip_ns": {"start": 62.0, "end": 331.0}, "cpu_wait_share": 0.4}),
                       ("still", {"core_round_trip_ns": {"start": 62.0, "end": 70.0}, "cpu_wait_share": 0.001}),
                       ("none", {}), ("single", {"core_round_trip_ns": None})]:
        doc["meta"] = meta
        runs.append(tmp_path / f"{name}.json")
        runs[-1].write_text(json.dumps(doc))
    assert main(["report", *map(str, runs), "--out", str(tmp_path / "r")]) == 0
    listed = {line.split("`")[1].split("/")[-1]: line for line in (tmp_path / "r" / "report.md").read_text().splitlines()
              if line.startswith("- `")}
    assert listed["moved.json"].endswith("(the cores of threads 0 and 1 62 ns apart (a cache line's round trip) at the "
                                         "start, 331 after the rounds: they moved during the run, its times mix two "
                                         "placements; its threads waited for a core 40% of their time)")
    assert listed["still.json"].endswith("62 ns apart (a cache line's round trip) at the start, 70 after the rounds)")
    assert listed["none.json"].endswith("avx512)") and listed["single.json"].endswith("avx512)")


def test_report_draws_the_bf16_roof_where_the_run_measured_it(tmp_path):
    doc = json.loads(CPU.read_text())
    doc["ceilings"]["bf16_peak_gflops"] = 2 * doc["ceilings"]["fp32_peak_gflops"]
    run = tmp_path / "bf16.json"
    run.write_text(json.dumps(doc))
    assert main(["report", str(run), "--out", str(tmp_path / "r")]) == 0
    row = next(line for line in (tmp_path / "r" / "report.md").read_text().splitlines() if line.startswith("| AMD"))
    assert "; bf16 " in row


def test_report_cpu_and_gpu_side_by_side(tmp_path):
    assert main(["report", str(GPU), str(CPU), "--out", str(tmp_path)]) == 0
    md = (tmp_path / "report.md").read_text()
    assert (tmp_path / "roofline-nvidia-h200.png").exists()
    # CPUs first in every table, whatever the order of the files
    assert md.index("**AMD EPYC") < md.index("**NVIDIA H200**")
    cpu = {(r["engine"], r["batch_size"]): r["median_s"] for r in json.loads(CPU.read_text())["records"]}
    gpu = {(r["engine"], r["batch_size"]): r["median_s"] for r in json.loads(GPU.read_text())["records"]}
    row = next(line for line in md.splitlines() if line.startswith("| 1024 | reference |"))
    assert row.endswith(f"| {cpu['reference', 1024] / gpu['reference', 1024]:.2f}x |")
    assert "Crossover between batch 16 and 64" in md                  # as recorded: CPU fused wins at 16
    assert "float32 FMA peak" in md and "ridge" in md


def _times(cpu: dict, gpu: dict) -> dict:
    return {"cpu": {("fused", b): t for b, t in cpu.items()}, "gpu": {("fused", b): t for b, t in gpu.items()}}


@pytest.mark.parametrize("cpu,gpu,expected", [
    ({1: 1.0, 8: 2.0, 64: 8.0}, {1: 3.0, 8: 3.0, 64: 3.0}, "Crossover between batch 8 and 64"),
    ({1: 1.0, 8: 2.0}, {1: 0.5, 8: 0.5}, "wins at every batch size measured: the crossover lies at or below 1"),
    ({1: 1.0, 8: 2.0}, {1: 2.0, 8: 2.02}, "The CPU's fastest engine wins at every batch size measured (even within 5% at batch 8)"),
    ({1: 1.0, 8: 1.0, 64: 9.0}, {1: 0.5, 8: 2.0, 64: 3.0}, "No single crossover"),
])
def test_crossover_sentences(cpu, gpu, expected):
    assert expected in R.crossover(_times(cpu, gpu), ("cpu", "gpu"))


def _doc() -> dict:
    return json.loads(CPU.read_text())


def _bad_cases():
    def edit(f):
        def make(path):
            d = _doc()
            f(d)
            path.write_text(json.dumps(d))
        return make

    return [
        ("not-json", lambda p: p.write_text("{oops"), "not a readable JSON"),
        ("binary", lambda p: p.write_bytes(b"\xff\xfe\x00"), "not a readable JSON"),
        ("old-list", lambda p: p.write_text(json.dumps(_doc()["records"])), "older bench JSON"),
        ("schema", edit(lambda d: d.update(schema="minitorch-clf-bench/1")), "schema"),
        ("kind", edit(lambda d: d.update(kind="train")), "kind"),
        ("machine", edit(lambda d: d.pop("machine")), "machine"),
        ("machine-field", edit(lambda d: d["machine"].pop("isa")), "machine: missing isa"),
        ("ceilings", edit(lambda d: d.update(ceilings=None)), "ceilings: missing"),
        ("ceiling-zero", edit(lambda d: d["ceilings"].update(fp32_peak_gflops=0)),
         "ceilings: fp32_peak_gflops: expected a finite number > 0, got 0"),
        ("ceiling-gemm-list", edit(lambda d: d["ceilings"].update(gemm_gflops=[1.0])), "ceilings: gemm_gflops: expected"),
        ("ceiling-bf16", edit(lambda d: d["ceilings"].update(bf16_peak_gflops=-2)),
         "ceilings: bf16_peak_gflops: expected a finite number > 0, got -2"),
        ("meta-plans", edit(lambda d: d["meta"].update(gemm_plans=[{"product": "fc1"}])), "meta: gemm_plans: expected"),
        ("machine-threads", edit(lambda d: d["machine"].update(threads="two")), "machine: threads: expected an integer"),
        ("meta-round-trip", edit(lambda d: d["meta"].update(core_round_trip_ns={"start": 62.0, "end": float("nan")})),
         "meta: core_round_trip_ns: expected null or an object of ns at the start and the end"),
        ("meta-round-trip-keys", edit(lambda d: d["meta"].update(core_round_trip_ns={"start": 62.0})),
         "meta: core_round_trip_ns: expected null or an object of ns"),
        ("meta-missing", edit(lambda d: d.pop("meta")), "meta: expected an object"),
        ("meta-list", edit(lambda d: d.update(meta=[1])), "meta: expected an object"),
        ("meta-optimizer", edit(lambda d: d["meta"].update(optimizer=7)), "meta: optimizer: expected a non-empty string"),
        ("records-empty", edit(lambda d: d.update(records=[])), "records: expected a non-empty list"),
        ("record-field", edit(lambda d: d["records"][1].pop("min_bytes")), "records[1]: missing min_bytes"),
        ("record-negative", edit(lambda d: d["records"][0].update(median_s=-1.0)),
         "records[0]: median_s: expected a finite number > 0, got -1.0"),
        ("record-string", edit(lambda d: d["records"][0].update(flops="many")), "records[0]: flops: expected"),
        ("record-phases", edit(lambda d: d["records"][0].update(phases={"forward": -1})), "records[0]: phases: expected"),
    ] + [(f"{field}-{value}", edit(lambda d, f=field, v=value: d["records"][2].update({f: v})),
          f"records[2]: {field}: expected")
         for field, values in BROKEN.items() for value in values]


# What the bad-input probe of issue 30 wrote into a record (every one produced a report, or a traceback for
# `engine`). null stays valid where the schema allows it (speedup, gflops, pct_matmul: bench writes null
# where there is no baseline or no flop count).
BROKEN = {"engine": (None, -1, float("nan")), "loader": (None, -1, float("nan")), "device": (None, -1, float("nan")),
          "iqr_s": (None, -1, float("nan")), "samples_per_s": (None, -1, float("nan")),
          "speedup": (-1, float("nan"), 0), "gflops": (-1, float("nan")), "pct_matmul": (-1, float("nan"), "x")}


@pytest.mark.parametrize("name,make,words", _bad_cases(), ids=[c[0] for c in _bad_cases()])
def test_bad_run_files_are_one_line(tmp_path, capsys, name, make, words):
    path = tmp_path / f"{name}.json"
    make(path)
    assert main(["report", str(CPU), str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and words in err, err
    assert not (tmp_path / "out" / "report.md").exists()


def test_missing_file_folder_and_unwritable_out(tmp_path, capsys):
    for args, words in [([str(tmp_path / "none.json")], "no such file"), ([str(tmp_path)], "is a folder")]:
        assert main(["report", *args, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err
    (tmp_path / "file").write_text("x")
    assert main(["report", str(CPU), "--out", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err
