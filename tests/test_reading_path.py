"""The student's path through one SimpleNet step (README, "Reading order"): what it lists is what the
step runs, in at most five files and 450 lines; and the README's Python API block runs as written."""
import inspect
import re
from pathlib import Path

import pytest

from minitorch_clf import functional as MF
from minitorch_clf import layers, models
from minitorch_clf.engines import manual
from minitorch_clf.optim import sgd

ROOT = Path(__file__).resolve().parents[1]

# what one step of `manual` with SGD runs, file by file, in the README's order
STEP = [
    [manual.ManualEngine],
    [models.MLPConfig, models._flatten, models.SimpleNet],
    [layers._accumulate, layers.Layer, layers.Linear, layers.Activation, layers.CrossEntropyLoss, layers.Sequential],
    [MF.linear_forward, MF.linear_backward, MF.relu_forward, MF.relu_backward, MF.cross_entropy_forward,
     MF.cross_entropy_backward, MF.class_indices],
    [sgd.SGD, sgd._sgd_loop],
]


def test_one_step_fits_in_five_files_and_450_lines():
    files = [inspect.getsourcefile(objs[0]) for objs in STEP]
    assert all(inspect.getsourcefile(o) == f for objs, f in zip(STEP, files) for o in objs)
    lines = sum(len(inspect.getsourcelines(o)[0]) for objs in STEP for o in objs)
    assert len(set(files)) <= 5 and lines <= 450, (len(set(files)), lines)
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("**One step first.**"):readme.index("Then the rest")]
    listed = re.findall(r"^\| \d \| `(minitorch_clf/[^`]+)`", table, re.M)
    assert listed == [str(Path(f).relative_to(ROOT)) for f in files]
    assert f"is\n{lines} lines" in table or f"is {lines} lines" in table, "the README's line count is stale"


def test_the_step_runs_what_the_path_lists(monkeypatch):
    """Each listed forward and backward is called by a manual SGD step (a list that named code the step
    does not run would send a reader the wrong way)."""
    import torch

    from minitorch_clf.engines import build_engine

    called = set()
    for name in ("linear_forward", "linear_backward", "relu_forward", "relu_backward", "cross_entropy_forward",
                 "cross_entropy_backward", "class_indices"):
        def spy(*a, _f=getattr(MF, name), _n=name, **k):
            called.add(_n)
            return _f(*a, **k)
        monkeypatch.setattr(MF, name, spy)
    monkeypatch.setitem(MF.ACTIVATIONS, "relu", (MF.relu_forward, MF.relu_backward))
    monkeypatch.setattr(sgd, "_sgd_loop", lambda *a, _f=sgd._sgd_loop: (called.add("_sgd_loop"), _f(*a))[1])
    engine = build_engine("manual", optimizer="sgd", lr=0.1, momentum=0.9)
    for group in engine.optimizer.param_groups:
        group["foreach"] = False                   # the readable loop
    engine.step(torch.randn(8, 784), torch.randint(0, 10, (8,)))
    assert called == {"linear_forward", "linear_backward", "relu_forward", "relu_backward", "cross_entropy_forward",
                      "cross_entropy_backward", "class_indices", "_sgd_loop"}


@pytest.mark.slow                                   # machine.ceilings measures the CPU for a few seconds
def test_the_readmes_python_api_block_runs_as_written():
    """The README's "Python API" block, executed as it stands (until 2026-12-07 it used names it never defined, and
    passed options to functional's cross-entropy, which then took none), and the intensity its comment prints."""
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme.split("## Python API", 1)[1], re.S).group(1)
    names = {}
    exec(compile(code, "README.md, Python API", "exec"), names)
    printed = float(re.search(r"intensity\s+# [^\n]*: ([\d.]+)\n", code).group(1))
    assert round(names["intensity"].step(names["eng"].config, 64).intensity, 1) == printed
