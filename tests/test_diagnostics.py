"""train --inspect and `minitorch-clf inspect`: the statistics against direct torch computations, the
engines agreeing on them, dead-unit and update-ratio figures on cases with known answers, the
diagnosis rules, and damaged input as one line."""
import json
import math

import pytest
import torch

from minitorch_clf import diagnostics as DG
from minitorch_clf.cli import main
from minitorch_clf.engines import build_engine


def _batches(n, seed=0, size=32, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 784, generator=g, dtype=dtype), torch.randint(0, 10, (size,), generator=g))
            for _ in range(n)]


def _inspected(engine_name, steps=3, activation="relu", tmp_path=None, **kw):
    engine = build_engine(engine_name, optimizer="sgd", lr=0.05, momentum=0.9, dtype=torch.float64, seed=0,
                          activation=activation, **kw)
    path = tmp_path / f"{engine_name}.jsonl"
    inspector = DG.Inspector(path, 1, 100, activation)
    for step, (x, y) in enumerate(_batches(steps)):
        inspector.step(engine, x, y, step, 1)
    return DG.read(path), engine


def test_statistics_match_direct_torch_computations(tmp_path):
    """One step of the reference model, redone here with autograd, gives the record's figures."""
    engine = build_engine("manual", optimizer="sgd", lr=0.05, momentum=0.9, dtype=torch.float64, seed=0)
    ref = build_engine("reference", optimizer="sgd", lr=0.05, momentum=0.9, dtype=torch.float64, seed=0)
    (x, y), = _batches(1)
    w = {k: v.clone().requires_grad_() for k, v in ref.model.state_dict().items()}
    h1 = torch.relu(x @ w["fc1.weight"].T + w["fc1.bias"])
    h2 = torch.relu(h1 @ w["fc2.weight"].T + w["fc2.bias"])
    z = h2 @ w["fc3.weight"].T + w["fc3.bias"]
    torch.nn.functional.cross_entropy(z, y).backward()
    rec = DG.step_record(0, 1, 0.0, "relu", *_capture(engine, x, y))
    fc1, fc2, fc3 = rec["layers"]
    assert fc1["act"]["mean"] == pytest.approx(h1.mean().item(), rel=1e-12)
    assert fc2["act"]["std"] == pytest.approx(h2.std(unbiased=False).item(), rel=1e-12)
    assert fc2["act"]["inactive"] == pytest.approx((h2 <= 0).all(0).double().mean().item())
    assert fc1["grad_w"]["norm"] == pytest.approx(w["fc1.weight"].grad.norm().item(), rel=1e-10)
    assert fc3["grad_b"]["mean"] == pytest.approx(w["fc3.bias"].grad.mean().item(), rel=1e-10)
    # SGD's first step with momentum: the update is lr x grad
    assert fc3["update_log10"] == pytest.approx(math.log10(0.05 * w["fc3.weight"].grad.norm().item()
                                                           / w["fc3.weight"].norm().item()), rel=1e-10)
    p = torch.softmax(z.detach(), 1)
    assert rec["logits"]["max_prob"] == pytest.approx(p.max(1).values.mean().item(), rel=1e-12)
    assert rec["logits"]["entropy"] == pytest.approx(-(p * p.log()).sum(1).mean().item(), rel=1e-12)
    assert sum(fc1["grad_w_hist"]["counts"]) == w["fc1.weight"].numel()
    assert sum(fc1["act"]["hist"]["counts"]) == h1.numel()


def _capture(engine, x, y):
    before = [p.detach().clone() for p in engine.model.parameters()]
    _, captured = engine.inspected_step(x, y)
    return captured, before, engine.model


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_reference_and_manual_agree(tmp_path, activation):
    a, _ = _inspected("reference", activation=activation, tmp_path=tmp_path)
    b, _ = _inspected("manual", activation=activation, tmp_path=tmp_path)
    _assert_records_close(a, b)


def test_fused_agrees_with_manual(tmp_path):
    a, _ = _inspected("manual", tmp_path=tmp_path)
    b, engine = _inspected("fused", tmp_path=tmp_path)
    _assert_records_close(a, b)
    assert engine.whole_step                      # inspection leaves the one-call step on for the others


def _assert_records_close(a, b):
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-10)
        for la, lb in zip(ra["layers"], rb["layers"]):
            for key in ("grad_w", "grad_b"):
                for m in ("mean", "std", "norm"):
                    assert la[key][m] == pytest.approx(lb[key][m], rel=1e-8, abs=1e-15), (la["name"], key, m)
            assert la["update_log10"] == pytest.approx(lb["update_log10"], rel=1e-8)
            if "act" in la:
                for m in ("mean", "std", "inactive"):
                    assert la["act"][m] == pytest.approx(lb["act"][m], rel=1e-8, abs=1e-15)
        assert ra["logits"]["entropy"] == pytest.approx(rb["logits"]["entropy"], rel=1e-8)


def test_inactive_fraction_on_constructed_cases():
    h = torch.rand(8, 10) + 0.1
    h[:, :3] = 0.0                                        # three dead units
    h[0, 3] = 0.0                                         # zero on one sample only: alive
    assert DG.inactive_fraction("relu", h) == pytest.approx(0.3)
    assert DG.inactive_fraction("leaky_relu", h - 0.05 * (h == 0)) == pytest.approx(0.3)
    t = torch.full((8, 4), 0.5)
    t[:, 0], t[:, 1] = 0.99, -0.98                        # saturated on every sample
    t[:4, 2] = 0.99                                       # on half the batch: not counted
    assert DG.inactive_fraction("tanh", t) == pytest.approx(0.5)
    s = torch.full((8, 4), 0.5)
    s[:, 0], s[:, 3] = 0.001, 0.999
    assert DG.inactive_fraction("sigmoid", s) == pytest.approx(0.5)
    assert DG.inactive_fraction("identity", h) is None
    assert (DG.inactive_kind("gelu"), DG.inactive_kind("sigmoid"), DG.inactive_kind("identity")) == ("dead", "saturated", None)


def test_update_ratio_on_constructed_cases():
    w = torch.ones(10, 10)                                # ||w|| = 10
    assert DG.log10_ratio(torch.full((10, 10), 0.001), w) == pytest.approx(-3.0)     # 0.01 / 10
    assert DG.log10_ratio(torch.full((10, 10), 1.0), w) == pytest.approx(0.0)
    assert DG.log10_ratio(torch.zeros(10, 10), w) is None         # no update: no ratio (not -inf)


def test_bf16_lost_on_constructed_cases():
    """bf16 keeps 8 significant bits: at 1.0 its spacing is 2^-7, so a step below 2^-8 rounds away."""
    w = torch.ones(4)
    after = w + torch.tensor([2.0**-10, 2.0**-9, 2.0**-6, 2.0**-5])
    assert DG.bf16_lost(after, w) == pytest.approx(0.5)
    assert DG.bf16_lost(w.clone(), w) is None                                  # nothing changed
    assert DG.bf16_lost(after.double(), w.double()) is None                     # float64 weights


def _record(step, inactive=0.0, update=-3.0, g0=1.0, g2=1.0, loss=1.0, lost=0.1):
    layers = [{"name": "fc1", "grad_w": {"norm": g0}, "update_log10": update, "act": {"inactive": inactive},
               "bf16_lost": lost},
              {"name": "fc2", "grad_w": {"norm": 1.0}, "update_log10": -3.0, "act": {"inactive": 0.0}},
              {"name": "fc3", "grad_w": {"norm": g2}, "update_log10": -3.0}]
    return {"step": step, "epoch": 1, "loss": loss, "activation": "relu", "inactive_kind": "dead",
            "layers": layers, "logits": {}}


def test_diagnose_rules():
    assert DG.diagnose([_record(s) for s in range(5)]) == []
    found = DG.diagnose([_record(0), _record(10, inactive=0.41), _record(20, inactive=0.3)])
    assert found == [("fc1", "41% dead ReLUs at step 10 (threshold 25% of the units inactive for a whole batch)")]
    found = dict(DG.diagnose([_record(s, update=-0.8) for s in range(5)]))
    assert "lr too high" in found["fc1"] and "1e-1" in found["fc1"]
    found = dict(DG.diagnose([_record(s, update=-6.0) for s in range(5)]))
    assert "lr too low" in found["fc1"]
    found = dict(DG.diagnose([_record(0), _record(1, g0=1e-5)]))
    assert "vanishing" in found["fc1"] and "step 1" in found["fc1"]
    found = dict(DG.diagnose([_record(0), _record(1, loss=None)]))
    assert "diverged" in found["loss"]
    found = dict(DG.diagnose([_record(s, lost=0.9) for s in range(5)]))
    assert found["fc1"].startswith("90% of its weight updates") and "bf16" in found["fc1"]
    assert "no finding" in DG.format_findings([])


@pytest.mark.slow
def test_train_inspect_and_the_inspect_command(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--inspect", "--out", str(out), "--no-progress"]) == 0
    records = DG.read(out / "inspect.jsonl")
    steps_per_epoch = math.ceil(4000 / 64)
    assert [r["step"] for r in records] == [0, 1, 2, 3, 4, steps_per_epoch]
    assert [r["epoch"] for r in records] == [1, 1, 1, 1, 1, 2]
    assert (out / "inspect.png").read_bytes()[:4] == b"\x89PNG"
    assert "steps inspected" in capsys.readouterr().out
    (out / "inspect.png").unlink()
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "6 inspected steps" in text and (out / "inspect.png").exists()
    # --resume drops what was inspected after the last checkpoint, then inspects on
    with open(out / "inspect.jsonl", "a") as f:
        f.write(json.dumps({**records[-1], "epoch": 3, "step": 999}) + "\n")
    assert main(["train", "--resume", str(out), "--epochs", "3", "--inspect", "50", "--no-progress"]) == 0
    steps = [r["step"] for r in DG.read(out / "inspect.jsonl")]
    # epoch 3 holds steps 126..188; every 50th of those is 150
    assert steps == [0, 1, 2, 3, 4, steps_per_epoch, 150]


@pytest.mark.parametrize("args,words", [(["--inspect", "0"], "inspect: expected a positive"),
                                        (["--inspect", "x"], "inspect: expected a positive"),
                                        (["--inspect", "--engine", "compiled"], "one compiled graph"),
                                        (["--inspect", "--compare", "reference,manual"], "--compare writes no")])
def test_train_inspect_bad_arguments(tmp_path, capsys, args, words):
    assert main(["train", *args, "--out", str(tmp_path / "r"), "--epochs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "r" / "inspect.jsonl").exists()


@pytest.mark.parametrize("content,words", [(None, "not found"), ("", "holds no records"),
                                           ('{"step": 0}\n', "line 1: missing"), ("{oops\n", "line 1 is not JSON"),
                                           ('{"step": 0, "epoch": 1, "loss": 1, "activation": "relu", '
                                            '"layers": 3, "logits": {}}\n', "layers: expected")])
def test_inspect_command_on_missing_or_damaged_files(tmp_path, capsys, content, words):
    if content is not None:
        (tmp_path / "inspect.jsonl").write_text(content)
    assert main(["inspect", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err


def _written(**changes) -> dict:
    """A record as Inspector writes it (two layers), with `changes` applied."""
    moments = {"mean": 0.0, "std": 1.0, "norm": 2.0}
    hist = {"lo": -1.0, "hi": 1.0, "counts": [1, 3, 1]}
    layer = lambda name, act: {"name": name, "grad_w": moments, "grad_b": moments, "update_log10": -3.0,
                               "grad_w_hist": hist, **({"act": {**moments, "inactive": 0.1, "hist": hist}} if act else {})}
    return {"step": 0, "epoch": 1, "loss": 2.3, "activation": "relu", "inactive_kind": "dead",
            "layers": [layer("fc1", True), layer("fc2", False)],
            "logits": {"classes": 10, "std": 1.0, "max_prob": 0.3, "entropy": 2.0}, **changes}


_WRONG = [(field, value) for field, values in {
    "step": ("0", None, [0], {}, -1), "epoch": ("1", None, [1], 0), "loss": ("2.3", [1.0], {}),
    "activation": (None, 3, "swish"), "layers": ([], [{"name": "fc1", "grad_w": "big"}], [{"grad_w": None}]),
    "logits": ([1, 2], "x", {"classes": "ten"})}.items() for value in values]


@pytest.mark.parametrize("field,value", _WRONG, ids=[f"{f}={v!r}" for f, v in _WRONG])
def test_inspect_refuses_wrong_typed_fields_with_one_line(tmp_path, capsys, field, value):
    """Each was accepted and diagnosed ('no finding') or ended in a traceback (issue 25)."""
    (tmp_path / "inspect.jsonl").write_text(json.dumps(_written()) + "\n" + json.dumps(_written(**{field: value})) + "\n")
    assert main(["inspect", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"line 2: {field}: expected" in err, err
    assert not (tmp_path / "inspect.png").exists()


def test_inspect_refuses_records_of_other_layers(tmp_path, capsys):
    other = _written(step=1)
    other["layers"] = other["layers"][:1]
    (tmp_path / "inspect.jsonl").write_text(json.dumps(_written()) + "\n" + json.dumps(other) + "\n")
    assert main(["inspect", str(tmp_path)]) == 2
    assert "line 2: layers: expected the layers of the records before it (fc1, fc2), got fc1" in capsys.readouterr().err


@pytest.mark.parametrize("loss", ["NaN", "Infinity", "null"])
def test_a_loss_that_is_not_finite_is_a_finding_however_written(tmp_path, capsys, loss):
    """Inspector writes null; a NaN written as JSON's NaN gave 'no finding'."""
    text = json.dumps(_written()) + "\n" + json.dumps(_written(step=1, loss=0.0)).replace('"loss": 0.0', f'"loss": {loss}')
    (tmp_path / "inspect.jsonl").write_text(text + "\n")
    assert main(["inspect", str(tmp_path)]) == 0
    assert "not finite from step 1 on: the run diverged" in capsys.readouterr().out
