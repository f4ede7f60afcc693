"""A training run's insides, per layer: what `train --inspect` records and `minitorch-clf inspect` reads.

At an inspected step the engine runs its ordinary step and hands over what its forward produced (the
hidden activations and the logits; `Engine.inspected_step`); the gradients are in each parameter's
`.grad`, and a copy of the weights taken just before the step gives the update. From those, per
linear layer k (named fc1, fc2, ...):

  act      mean and std of its activation's output h (hidden layers), and the fraction of units that
           are *inactive for the whole batch*: for ReLU-like activations (relu, leaky_relu, gelu,
           gelu_tanh) a unit j whose h[:, j] <= 0 on every sample - a dead ReLU gets no gradient at all;
           for tanh, |h| > 0.97 on every sample, and for sigmoid h < 0.015 or h > 0.985 (the same
           z, |z| > 2.1 for tanh and > 4.2 for sigmoid, where the derivative has fallen below 6%).
  grad     mean, std and 2-norm of dL/dW and dL/db
  update   log10(||W_after - W_before|| / ||W_before||): the share of the weights one step changes.
           Practitioners read it against 1e-3: far above (1e-1) the learning rate is too high, far
           below (1e-5) too low, or the gradients vanish. And (float32 weights) the fraction of W's
           updates that bf16 would lose: where round_to(W_after, 'bf16') == round_to(W_before, 'bf16'),
           the step is below half of bf16's spacing at the weight (2^-8 relative). Float32 master
           weights keep those steps, in a bf16 run too; weights stored in bf16 would stall there.
  logits   their std over the batch, the mean largest softmax probability and the mean entropy
           (log C for a uniform guess over C classes, 0 for certainty)

plus histograms (40 bins) of each hidden activation and each weight gradient. One JSON line per
inspected step goes to `inspect.jsonl`; `plot` draws `inspect.png` from them and `diagnose` turns
them into findings with the thresholds below.
"""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import torch

from . import functional as MF
from .plotting import pyplot

RELU_LIKE = ("relu", "leaky_relu", "gelu", "gelu_tanh")
SATURATING = {"tanh": lambda h: h.abs() > 0.97, "sigmoid": lambda h: (h < 0.015) | (h > 0.985)}
BINS = 40

# diagnose's thresholds
DEAD_OR_SATURATED = 0.25        # a quarter of a layer's units inactive for the whole batch
UPDATE_HIGH, UPDATE_LOW = -2.0, -4.5    # log10 of the median update-to-weight ratio over the run
VANISHING = 1e-3                # first layer's gradient norm / last layer's
BF16_LOST = 0.5                 # half of a layer's weight updates below bf16's spacing (bf16_lost)


class InspectError(ValueError):
    """inspect.jsonl missing or damaged; the message names the file and the line."""


# ---------------------------------------------------------------------------------------------- statistics

def inactive_kind(activation: str) -> str | None:
    """'dead' (ReLU-like), 'saturated' (tanh, sigmoid) or None (identity)."""
    return "dead" if activation in RELU_LIKE else "saturated" if activation in SATURATING else None


def inactive_fraction(activation: str, h: torch.Tensor) -> float | None:
    """Fraction of the units (columns of h (N, H)) inactive on every sample of the batch."""
    if activation in RELU_LIKE:
        off = h <= 0
    elif activation in SATURATING:
        off = SATURATING[activation](h)
    else:
        return None
    return off.all(dim=0).double().mean().item()


def moments(t: torch.Tensor) -> dict:
    t = t.detach().double()
    return {"mean": t.mean().item(), "std": t.std(unbiased=False).item(), "norm": t.norm().item()}


def histogram(t: torch.Tensor, bins: int = BINS) -> dict:
    """{"lo", "hi", "counts"}: `bins` equal bins over [min, max] of t."""
    t = t.detach().double().flatten()
    lo, hi = t.min().item(), t.max().item()
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return {"lo": None, "hi": None, "counts": []}
    if hi == lo:
        hi = lo + 1e-12
    return {"lo": lo, "hi": hi, "counts": torch.histc(t, bins, lo, hi).long().tolist()}


def log10_ratio(delta: torch.Tensor, before: torch.Tensor) -> float | None:
    d, w = delta.double().norm().item(), before.double().norm().item()
    return math.log10(d / w) if d > 0 and w > 0 and math.isfinite(d / w) else None


def bf16_lost(after: torch.Tensor, before: torch.Tensor) -> float | None:
    """Fraction of a float32 weight's changed entries whose change bf16 storage would round away; None for
    float64 weights or a step that changed nothing."""
    if after.dtype != torch.float32:
        return None
    changed = after != before
    if not changed.any():
        return None
    same = MF.round_to(after, "bf16") == MF.round_to(before, "bf16")
    return (same & changed).sum().item() / changed.sum().item()


def step_record(step: int, epoch: int, loss: float, activation: str, captured: dict,
                before: list[torch.Tensor], model: torch.nn.Module) -> dict:
    """One inspected step: captured = {"hidden": [h_k (N, H_k)], "logits": (N, C)} from the engine,
    `before` the weights and biases (in model.named_parameters() order) copied before the step."""
    params = dict(model.named_parameters())
    old = dict(zip(params, before))                       # named_parameters and parameters share the order
    names = sorted({n.split(".")[0] for n in params}, key=lambda n: int(n[2:]))        # fc1, fc2, ...
    layers = []
    for k, name in enumerate(names):
        w, b, w0 = params[f"{name}.weight"], params[f"{name}.bias"], old[f"{name}.weight"]
        layer = {"name": name,
                 "grad_w": moments(w.grad) if w.grad is not None else None,
                 "grad_b": moments(b.grad) if b.grad is not None else None,
                 "update_log10": log10_ratio(w.detach() - w0, w0),
                 "bf16_lost": bf16_lost(w.detach(), w0),
                 "grad_w_hist": histogram(w.grad) if w.grad is not None else None}
        if k < len(captured["hidden"]):
            h = captured["hidden"][k]
            layer["act"] = {**moments(h), "inactive": inactive_fraction(activation, h), "hist": histogram(h)}
        layers.append(layer)
    z = captured["logits"].detach().double()
    p = torch.softmax(z, dim=1)
    logits = {"classes": z.shape[1], "std": z.std(unbiased=False).item(), "max_prob": p.max(dim=1).values.mean().item(),
              "entropy": -(p * torch.log(p.clamp_min(1e-300))).sum(dim=1).mean().item()}
    return {"step": step, "epoch": epoch, "loss": loss, "activation": activation,
            "inactive_kind": inactive_kind(activation), "layers": layers, "logits": logits}


class Inspector:
    """Chooses the steps to inspect, runs them through the engine and appends their records to `path`.

    every=None: the first five steps and the first step of every epoch; every=N: steps 0, N, 2N, ...
    It also keeps the wall time of the inspected steps, so the run can report what inspection cost."""

    def __init__(self, path: Path, every: int | None, steps_per_epoch: int, activation: str):
        if every is not None and every < 1:
            raise ValueError(f"every: expected a positive number of steps, got {every}")
        self.path, self.every, self.steps_per_epoch, self.activation = Path(path), every, steps_per_epoch, activation
        self.count, self.seconds, self.stats_seconds = 0, 0.0, 0.0

    def keep_epochs(self, done: int) -> None:
        """Drop the records of epochs after `done` (those a killed run wrote past its last checkpoint:
        a resumed run inspects those steps again). Unreadable lines are dropped too."""
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                if json.loads(line)["epoch"] <= done:
                    kept.append(line + "\n")
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text("".join(kept), encoding="utf-8")
        tmp.replace(self.path)

    def cost(self, train_seconds: float, steps: int) -> str:
        """One line: what an inspected step took (and of that, the statistics: copying the weights,
        the reductions, the histograms, the line written), against a plain step where there were any."""
        each, stats = self.seconds / self.count, self.stats_seconds / self.count
        line = (f"inspect: {self.count} of {steps} steps inspected into {self.path.name}: {each * 1e3:.2f} ms each, "
                f"{stats * 1e3:.2f} ms of it the statistics")
        if steps > self.count:
            plain = (train_seconds - self.seconds) / (steps - self.count)
            extra = self.count * max(0.0, each - plain)
            line += (f"; a plain step {plain * 1e3:.2f} ms: inspection added {100 * extra / train_seconds:.1f}% "
                     "to the training time")
        return line

    def wants(self, step: int) -> bool:
        if self.every is not None:
            return step % self.every == 0
        return step < 5 or step % self.steps_per_epoch == 0

    def step(self, engine, x: torch.Tensor, y: torch.Tensor, step: int, epoch: int) -> torch.Tensor:
        import time

        t0 = time.perf_counter()
        before = [p.detach().clone() for p in engine.model.parameters()]
        t1 = time.perf_counter()
        loss, captured = engine.inspected_step(x, y)
        t2 = time.perf_counter()
        record = step_record(step, epoch, loss.item(), self.activation, captured, before, engine.model)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(finite_or_none(record)) + "\n")
        t3 = time.perf_counter()
        self.count += 1
        self.seconds += t3 - t0
        self.stats_seconds += (t1 - t0) + (t3 - t2)
        return loss


def finite_or_none(x):
    """x with every non-finite float, at any depth of dicts and lists, as None: JSON has no NaN or
    infinity (inspect.jsonl here, metrics.jsonl in train.py)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: finite_or_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [finite_or_none(v) for v in x]
    return x


# ---------------------------------------------------------------------------------------------- reading

REQUIRED = ("step", "epoch", "loss", "activation", "layers", "logits")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int_at_least(low):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _maybe(test):
    return lambda v: v is None or test(v)


def _fields(spec: dict, optional: bool = False):
    """A test of a JSON object whose fields pass `spec`'s tests (absent ones allowed where `optional`)."""
    return lambda v: isinstance(v, dict) and all((optional and k not in v) or (k in v and t(v[k]))
                                                 for k, t in spec.items())


_MOMENTS = _maybe(_fields({"mean": _maybe(_number), "std": _maybe(_number), "norm": _maybe(_number)}))
_HIST = _maybe(_fields({"lo": _maybe(_number), "hi": _maybe(_number),
                        "counts": lambda v: isinstance(v, list) and all(_int_at_least(0)(c) for c in v)}))
_LAYER = _fields({"name": lambda v: isinstance(v, str) and bool(v)})
_LAYER_OPTIONAL = _fields({"grad_w": _MOMENTS, "grad_b": _MOMENTS, "update_log10": _maybe(_number), "grad_w_hist": _HIST,
                           "bf16_lost": _maybe(lambda v: _number(v) and 0 <= v <= 1),
                           "act": _maybe(_fields({"inactive": _maybe(lambda v: _number(v) and 0 <= v <= 1),
                                                  "hist": _HIST}, optional=True))}, optional=True)
# What read() holds each record's fields to (what diagnose() and plot() read), with what a message says.
RECORD = {"step": (_int_at_least(0), "an integer >= 0"), "epoch": (_int_at_least(1), "an integer >= 1"),
          "loss": (_maybe(_number), "a number, or null where it was not finite"),
          "activation": (lambda v: v in MF.ACTIVATIONS, f"one of {', '.join(MF.ACTIVATIONS)}"),
          "layers": (lambda v: isinstance(v, list) and bool(v) and all(_LAYER(l) and _LAYER_OPTIONAL(l) for l in v),
                     "a non-empty list of layer records (name, gradient and activation statistics)"),
          "logits": (_fields({"classes": _int_at_least(1), "std": _maybe(_number), "max_prob": _maybe(_number),
                              "entropy": _maybe(_number)}, optional=True), "an object of output statistics")}


def read(path: Path) -> list[dict]:
    """The records of an inspect.jsonl, checked line by line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InspectError(f"{path}: not found (train with --inspect to write it)") from None
    except IsADirectoryError:
        raise InspectError(f"{path}: is a folder; expected inspect.jsonl") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InspectError(f"{path}: not readable ({e})") from None
    records = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            raise InspectError(f"{path}: line {i} is not JSON (a damaged file?)") from None
        missing = [k for k in REQUIRED if not isinstance(r, dict) or k not in r]
        if missing:
            raise InspectError(f"{path}: line {i}: missing {', '.join(missing)}")
        r = finite_or_none(r)                  # a NaN a hand or another tool wrote counts as not finite
        for name, (test, what) in RECORD.items():
            if not test(r[name]):
                raise InspectError(f"{path}: line {i}: {name}: expected {what}, got {json.dumps(r[name])[:60]}")
        names = [l["name"] for l in r["layers"]]
        if records and names != [l["name"] for l in records[0]["layers"]]:
            raise InspectError(f"{path}: line {i}: layers: expected the layers of the records before it "
                               f"({', '.join(l['name'] for l in records[0]['layers'])}), got {', '.join(names)}")
        records.append(r)
    if not records:
        raise InspectError(f"{path}: holds no records")
    return records


# ---------------------------------------------------------------------------------------------- diagnosis

def diagnose(records: list[dict]) -> list[tuple[str, str]]:
    """(layer, finding) pairs, worst first within each rule; empty when every figure is within the thresholds."""
    out = []
    kind = records[-1].get("inactive_kind")
    names = [l["name"] for l in records[-1]["layers"]]
    for name in names:
        fracs = [(l["act"]["inactive"], r["step"]) for r in records for l in r["layers"]
                 if l["name"] == name and l.get("act") and l["act"].get("inactive") is not None]
        if kind and fracs:
            worst, at = max(fracs)
            if worst >= DEAD_OR_SATURATED:
                what = "dead ReLUs" if kind == "dead" else "saturated units"
                out.append((name, f"{100 * worst:.0f}% {what} at step {at} (threshold {100 * DEAD_OR_SATURATED:.0f}% "
                                  f"of the units inactive for a whole batch)"))
    for name in names:
        ratios = [l["update_log10"] for r in records[1:] for l in r["layers"]
                  if l["name"] == name and l.get("update_log10") is not None]
        if ratios:
            med = statistics.median(ratios)
            if med > UPDATE_HIGH:
                out.append((name, f"updates 1e{round(med)} of its weights a step (median log10 {med:.1f} > "
                                  f"{UPDATE_HIGH:.0f}): lr too high"))
            elif med < UPDATE_LOW:
                out.append((name, f"updates 1e{round(med)} of its weights a step (median log10 {med:.1f} < "
                                  f"{UPDATE_LOW}): lr too low, or vanishing gradients"))
    for name in names:
        lost = [l["bf16_lost"] for r in records[1:] for l in r["layers"]
                if l["name"] == name and l.get("bf16_lost") is not None]
        if lost and statistics.median(lost) >= BF16_LOST:
            out.append((name, f"{100 * statistics.median(lost):.0f}% of its weight updates (median over the steps) "
                              "are below half of bf16's spacing at the weight: float32 master weights keep them, "
                              "weights stored in bf16 would lose them"))
    first, last = names[0], names[-1]
    pairs = [(l0["grad_w"]["norm"], ln["grad_w"]["norm"], r["step"]) for r in records
             for l0 in r["layers"] if l0["name"] == first and l0.get("grad_w")
             for ln in r["layers"] if ln["name"] == last and ln.get("grad_w")]
    vanish = [(a / b, s) for a, b, s in pairs if a is not None and b and a / b < VANISHING]
    if vanish:
        ratio, at = min(vanish)
        out.append((first, f"gradient norm {ratio:.0e} of {last}'s at step {at} (threshold {VANISHING:.0e}): "
                           "vanishing gradients"))
    bad = [r["step"] for r in records if r["loss"] is None]
    if bad:
        out.append(("loss", f"not finite from step {bad[0]} on: the run diverged"))
    return out


def format_findings(findings: list[tuple[str, str]]) -> str:
    if not findings:
        return ("no finding: no layer with a quarter of its units inactive, median updates between "
                f"1e{UPDATE_LOW} and 1e{UPDATE_HIGH:.0f} of the weights, fewer than half of them below bf16's "
                "spacing, no vanishing gradient, a finite loss")
    width = max(len(layer) for layer, _ in findings)
    return "\n".join(f"{layer:<{width}}  {text}" for layer, text in findings)


# ---------------------------------------------------------------------------------------------- picture

def plot(records: list[dict], path: Path, title: str = "") -> None:
    """inspect.png: activation and weight-gradient histograms per layer at the first, a middle and the
    last inspected step; the update-to-weight ratio per layer over steps with the 1e-3 guide; the
    inactive fraction per hidden layer over steps."""
    plt = pyplot()

    names = [l["name"] for l in records[-1]["layers"]]
    hidden = [l["name"] for l in records[-1]["layers"] if l.get("act")]
    picks = sorted({0, len(records) // 2, len(records) - 1})
    cols = max(len(names), 2)
    fig, axes = plt.subplots(3, cols, figsize=(4.2 * cols, 10), squeeze=False)
    colors = plt.get_cmap("viridis")

    def curve(ax, hist, label, color):
        if not hist or hist.get("lo") is None or not hist["counts"]:
            return
        n, width = sum(hist["counts"]), (hist["hi"] - hist["lo"]) / len(hist["counts"])
        xs = [hist["lo"] + (i + 0.5) * width for i in range(len(hist["counts"]))]
        ax.plot(xs, [c / n for c in hist["counts"]], color=color, label=label, lw=1.2)

    for c in range(cols):
        for row, key in ((0, "act"), (1, "grad_w_hist")):
            ax = axes[row, c]
            name = (hidden if row == 0 else names)[c] if c < len(hidden if row == 0 else names) else None
            if name is None:
                ax.axis("off")
                continue
            for j, i in enumerate(picks):
                layer = next(l for l in records[i]["layers"] if l["name"] == name)
                hist = (layer.get("act") or {}).get("hist") if row == 0 else layer.get(key)
                curve(ax, hist, f"step {records[i]['step']}", colors(j / max(1, len(picks) - 1)))
            ax.set_yscale("log")
            ax.set_title(f"{name}: {'activation' if row == 0 else 'weight gradient'} histogram", fontsize=9)
            ax.legend(fontsize=7)
    ax = axes[2, 0]
    for name in names:
        pts = [(r["step"], l["update_log10"]) for r in records for l in r["layers"]
               if l["name"] == name and l.get("update_log10") is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=3, label=name)
    ax.axhline(-3, color="k", ls="--", lw=1, label="1e-3 guide")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("step")
    ax.set_ylabel("log10 ||dW|| / ||W||")
    ax.set_title("update-to-weight ratio", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[2, 1]
    kind = records[-1].get("inactive_kind")
    for name in hidden:
        pts = [(r["step"], 100 * l["act"]["inactive"]) for r in records for l in r["layers"]
               if l["name"] == name and l.get("act") and l["act"].get("inactive") is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=3, label=name)
    ax.axhline(100 * DEAD_OR_SATURATED, color="tab:red", ls=":", lw=1, label="diagnosis threshold")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_ylim(-2, 102)
    ax.set_xlabel("step")
    ax.set_ylabel("% of units")
    ax.set_title(f"{kind or 'inactive'} units (whole batch)" if kind else "no inactive units (identity)", fontsize=9)
    ax.legend(fontsize=7)
    if cols >= 3:
        ax = axes[2, 2]
        steps = [r["step"] for r in records]
        ax.plot(steps, [r["logits"].get("max_prob") for r in records], "o-", ms=3, label="mean max softmax prob")
        ax.plot(steps, [(r["logits"].get("entropy") or 0) / math.log(r["logits"].get("classes", 10)) for r in records],
                "s-", ms=3, label="mean entropy / log(classes)")
        ax.set_xscale("symlog", linthresh=10)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("step")
        ax.set_title("output: confidence and entropy", fontsize=9)
        ax.legend(fontsize=7)
    for c in range(3, cols):
        axes[2, c].axis("off")
    for ax in axes[2, :3]:
        if ax.lines:
            ax.set_xlim(left=0)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=90)
    plt.close(fig)
