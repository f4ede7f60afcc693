"""The engine contract: same seed, same weights; reference and manual agree; bad batches refused."""
import re

import pytest
import torch

from minitorch_clf.engines import ENGINES, OPTIMIZERS, build_engine


def batch(n=16, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g, dtype=dtype), torch.randint(0, 10, (n,), generator=g)


def test_engine_names():
    assert ENGINES[:2] == ("reference", "manual")


def test_same_seed_same_weights_across_engines():
    sds = [build_engine(name, seed=7).state_dict()["model"] for name in ENGINES]
    for sd in sds[1:]:
        assert list(sd) == list(sds[0]) and all(torch.equal(sd[k], sds[0][k]) for k in sd)
    other = build_engine("manual", seed=8).state_dict()["model"]
    assert not torch.equal(other["fc1.weight"], sds[0]["fc1.weight"])


def test_build_does_not_touch_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_engine("manual", seed=0)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_reference_and_manual_agree_float64(optimizer):
    engines = [build_engine(n, optimizer=optimizer, dtype=torch.float64, seed=1) for n in ("reference", "manual")]
    for step in range(10):
        x, y = batch(seed=step, dtype=torch.float64)
        losses = [e.step(x, y) for e in engines]
        assert losses[0].shape == () and losses[1].shape == ()
        torch.testing.assert_close(losses[1], losses[0], rtol=1e-12, atol=0)
    x, _ = batch(seed=99, dtype=torch.float64)
    torch.testing.assert_close(engines[1].predict(x), engines[0].predict(x), rtol=1e-10, atol=0)


def test_predict_changes_nothing():
    eng = build_engine("manual")
    x, _ = batch()
    before = {k: v.clone() for k, v in eng.state_dict()["model"].items()}
    a, b = eng.predict(x), eng.predict(x)
    assert torch.equal(a, b) and a.shape == (16, 10)
    assert all(torch.equal(before[k], v) for k, v in eng.state_dict()["model"].items())


@pytest.mark.parametrize("name", ENGINES)
def test_state_dict_round_trip(name):
    a = build_engine(name, optimizer="adam", seed=0)
    for s in range(3):
        a.step(*batch(seed=s))
    b = build_engine(name, optimizer="adam", seed=5)
    b.load_state_dict(a.state_dict())
    x, y = batch(seed=10)
    assert torch.equal(a.step(x, y), b.step(x, y))


@pytest.mark.parametrize("name", ENGINES)
def test_bad_batches_raise_before_any_change(name):
    eng = build_engine(name)
    before = {k: v.clone() for k, v in eng.state_dict()["model"].items()}
    x, y = batch()
    bad = [
        ((torch.randn(16, 700), y), ValueError, "784"),
        ((x.double(), y), TypeError, "float32"),
        ((x, y.int()), ValueError, "int64"),
        ((x, y[:5]), ValueError, "(16,)"),
        ((x, y.float()), ValueError, "y"),
        ((x[:0], y[:0]), ValueError, "at least one sample"),
        ((x, torch.where(torch.arange(16) == 3, -1, y)), ValueError, "target|class ind"),
        ((x, torch.where(torch.arange(16) == 3, -101, y)), ValueError, "target|class ind"),
        ((x, torch.where(torch.arange(16) == 5, 10, y)), ValueError, "target|class ind"),
    ]
    for args, exc, word in bad:
        with pytest.raises(exc, match=word.replace("(", r"\(").replace(")", r"\)")):
            eng.step(*args)
    assert all(torch.equal(before[k], v) for k, v in eng.state_dict()["model"].items())


@pytest.mark.parametrize("name", ENGINES)
def test_every_engine_ignores_a_target_of_minus_100_as_torch_does(name):
    """One contract for the loss's targets in every engine: -100 (F.cross_entropy's ignore_index) counts for
    nothing, any other value outside [0, C) is refused. Three steps with two ignored rows each follow the
    seed's loop (reference); a step whose targets are all ignored changes no weight (torch's zero gradient
    and NaN loss; with momentum 0 the SGD update is then zero)."""
    ref, eng = (build_engine(n, optimizer="sgd", lr=0.05, momentum=0.9, seed=3) for n in ("reference", name))
    for step in range(3):
        x, y = batch(seed=step)
        y[step], y[9] = -100, -100
        torch.testing.assert_close(eng.step(x, y), ref.step(x, y))
    for p, q in zip(eng.model.parameters(), ref.model.parameters()):
        torch.testing.assert_close(p, q)
    still = build_engine(name, optimizer="sgd", lr=0.05, momentum=0.0, seed=3)
    before = [p.clone() for p in still.model.parameters()]
    x, _ = batch(seed=5)
    assert still.step(x, torch.full((16,), -100)).isnan()
    assert all(torch.equal(p, q) for p, q in zip(before, still.model.parameters()))


def test_fused_cpu_epoch_ignores_minus_100_as_its_steps_do():
    stepped, whole = (build_engine("fused", optimizer="sgd", lr=0.05, momentum=0.9, seed=2) for _ in range(2))
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(48, 784, generator=g), torch.randint(0, 10, (48,), generator=g)
    y[::5] = -100
    order = torch.randperm(48, generator=g)
    expected = torch.stack([stepped.step(x[idx], y[idx]) for idx in order.split(8)])
    assert torch.equal(whole.train_epoch(x, y, order, 8), expected)


@pytest.mark.parametrize("kw,word", [({"name": "nope"}, "engine"), ({"optimizer": "lbfgs"}, "optimizer"),
                                     ({"lr": 0.0}, "lr"), ({"dtype": torch.float16}, "dtype"),
                                     ({"device": "tpu"}, "device"),
                                     # taken and dropped before 2026-12-07: Adam has no momentum
                                     ({"optimizer": "adam", "momentum": 0.9}, "momentum: SGD's; adam takes none"),
                                     ({"optimizer": "rmsprop", "momentum": 0.0}, "momentum")])
def test_bad_build_arguments(kw, word):
    args = {"name": "manual", **kw}
    with pytest.raises((ValueError, TypeError), match=word):
        build_engine(args.pop("name"), **args)


def test_sgds_momentum_defaults_to_the_seeds():
    assert build_engine("manual").optimizer.param_groups[0]["momentum"] == 0.9
    assert build_engine("manual", momentum=0.5).optimizer.param_groups[0]["momentum"] == 0.5


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu():
    with pytest.raises(ValueError, match="cuda"):
        build_engine("manual", device="cuda")


def test_compiled_reference_follows_reference():
    """torch.compile of the seed's module: same per-step losses within 1e-5 relative (float32)."""
    ref, comp = (build_engine(n, optimizer="adam", lr=1e-3, seed=3) for n in ("reference", "compiled-reference"))
    for step in range(8):
        x, y = batch(n=32, seed=step)
        a, b = ref.step(x, y), comp.step(x, y)
        assert abs(b.item() - a.item()) <= 1e-5 * abs(a.item())
    assert list(comp.state_dict()["model"]) == list(ref.state_dict()["model"])


def test_compile_mode_only_for_compiled_engines():
    with pytest.raises(ValueError, match="compile_mode"):
        build_engine("manual", compile_mode="default")
    with pytest.raises(ValueError, match="compile_mode"):
        build_engine("compiled-reference", compile_mode="fastest")


@pytest.mark.parametrize("name", ["manual", "fused"])
def test_train_epoch_takes_the_loaders_batches(name):
    """train_epoch over resident data = step() on each batch TensorLoader gives (the last one short)."""
    from minitorch_clf import data as D

    loader = D.TensorLoader(D.synthetic_mnist(150), 64, seed=3)
    stepped, whole = build_engine(name, seed=2), build_engine(name, seed=2)
    for epoch in range(2):
        expected = torch.stack([stepped.step(x, y) for x, y in loader.epoch(epoch)])
        losses = whole.train_epoch(loader.x, loader.y, loader.order(epoch), 64)
        assert losses.shape == (3,)
        torch.testing.assert_close(losses, expected, rtol=0, atol=0)
    for p, q in zip(stepped.model.parameters(), whole.model.parameters()):
        assert torch.equal(p, q)
    dropped = whole.train_epoch(loader.x, loader.y, loader.order(2), 64, drop_last=True)
    assert dropped.shape == (2,)


@pytest.mark.parametrize("kw", [dict(momentum=0.0, activation="gelu"), dict(momentum=0.9, activation="tanh"),
                                dict(momentum=0.5, activation="leaky_relu")])
def test_fused_cpu_epoch_is_one_call_and_the_same_bits(kw):
    """On the CPU the fused engine's train_epoch is one C++ call (mlp_sgd_epoch_) after the first step
    has made the momentum buffers: the same losses and weights as step() on each batch."""
    from minitorch_clf import data as D

    loader = D.TensorLoader(D.synthetic_mnist(200), 32, seed=5)
    stepped, whole = (build_engine("fused", lr=0.05, seed=7, **kw) for _ in range(2))
    for eng in (stepped, whole):
        eng.optimizer.param_groups[0].update(nesterov=kw["momentum"] > 0.6, weight_decay=1e-3)
    for epoch in range(2):
        expected = torch.stack([stepped.step(x, y) for x, y in loader.epoch(epoch)])
        assert torch.equal(whole.train_epoch(loader.x, loader.y, loader.order(epoch), 32), expected)
    for p, q in zip(stepped.model.parameters(), whole.model.parameters()):
        assert torch.equal(p, q)


def _epoch_beside_the_loop(optimizer, batch, precision="float32"):
    """An epoch of the fused engine's epoch op at `batch`, profiled, and the same batches stepped one by one."""
    from torch.profiler import ProfilerActivity, profile

    from minitorch_clf import data as D

    loader = D.TensorLoader(D.synthetic_mnist(200), batch, seed=5)
    stepped, whole = (build_engine("fused", optimizer=optimizer, lr=0.05, seed=7, precision=precision)
                      for _ in range(2))
    stepped.step(*next(iter(loader.epoch(0))))                     # both make their state on a step of their own
    whole.step(*next(iter(loader.epoch(0))))
    expected = torch.stack([stepped.step(x, y) for x, y in loader.epoch(1)])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        losses = whole.train_epoch(loader.x, loader.y, loader.order(1), batch)
    return losses, expected, stepped, whole, prof


BESIDE, FIRST, ROWS = ("step: inner layers, next batch gathered beside", "epoch: next batch gathered",
                       "step: layers after the first, rows cut between the threads")


@pytest.mark.parametrize("precision", ["float32", "bf16"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("threads", [2, 1])
@pytest.mark.parametrize("batch", [32, 128])
def test_fused_cpu_epoch_gathers_the_next_batch_beside_the_inner_layers(batch, threads, optimizer, precision):
    """With a second thread, and every product of the layers after the first on one thread (SimpleNet's derived
    plans at batch 32), the epoch op copies batch k + 1 in on the second thread while step k runs fc2, fc3 and the
    loss, in float32 and in bf16; with one thread, or where those layers run cut by rows on both (from 128 rows on;
    in bf16 where its products run on AMX or vdpbf16ps), it copies it in before step k + 1. Either way the same
    bits as the loop of steps."""
    from minitorch_clf import ops
    from minitorch_clf.ops import tune

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tune.derived_only():                                   # whatever MINITORCH_CLF_TUNE says
            losses, expected, stepped, whole, prof = _epoch_beside_the_loop(optimizer, batch, precision)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(losses, expected)
    for p, q in zip(stepped.model.parameters(), whole.model.parameters()):
        assert torch.equal(p, q)
    calls = {e.key: e.count for e in prof.key_averages()}
    steps, full = len(expected), 200 // batch
    beside = threads == 2 and batch == 32
    assert (calls.get(BESIDE, 0), calls.get(FIRST, 0)) == ((steps - 1, 1) if beside else (0, steps))
    rows = threads == 2 and batch == 128 and (precision == "float32" or ops.bf16_kernels()[0] != "fma")
    assert calls.get(ROWS, 0) == (full if rows else 0)   # not the last batch's 72 rows


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_fused_cpu_adam_epoch_is_one_call_and_the_same_bits(optimizer):
    """With Adam / AdamW the fused CPU engine's train_epoch is one call of mlp_adam_epoch_ (from the first
    epoch: Adam's state starts as zeros): the same losses, weights and state as the layered steps."""
    from torch.profiler import ProfilerActivity, profile

    from minitorch_clf import data as D

    loader = D.TensorLoader(D.synthetic_mnist(200), 32, seed=5)
    layered, whole = (build_engine("fused", optimizer=optimizer, lr=1e-3, seed=7) for _ in range(2))
    layered.whole_step = False
    for epoch in range(2):
        expected = torch.stack([layered.step(x, y) for x, y in loader.epoch(epoch)])
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            losses = whole.train_epoch(loader.x, loader.y, loader.order(epoch), 32)
        assert torch.equal(losses, expected)
        calls = {e.key: e.count for e in prof.key_averages()}
        assert calls.get("minitorch_clf::mlp_adam_epoch_") == 1 and "minitorch_clf::mlp_adam_step_" not in calls
    for p, q in zip(layered.model.parameters(), whole.model.parameters()):
        assert torch.equal(p, q)
    a, b = whole.optimizer.state_dict()["state"], layered.optimizer.state_dict()["state"]
    assert all(torch.equal(a[i][k], b[i][k]) for i in a for k in a[i])


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fused_cpu_epoch_refuses_a_bad_target_before_training(optimizer):
    eng = build_engine("fused", optimizer=optimizer)
    before = [p.clone() for p in eng.model.parameters()]
    y = torch.randint(0, 10, (40,))
    y[33] = 10
    with pytest.raises(ValueError, match=r"y: expected class indices in \[0, 10\)"):
        eng.train_epoch(torch.randn(40, 784), y, torch.arange(40), 8)
    assert all(torch.equal(p, q) for p, q in zip(before, eng.model.parameters()))


@pytest.mark.parametrize("order,batch_size,word", [
    (torch.arange(10), 4, "(20,)"), (torch.arange(20).float(), 4, "int64"), (torch.arange(20), 0, "batch_size"),
    (torch.arange(20) - 1, 4, "[0, 20), got -1"),
    (torch.arange(1, 21), 4, "[0, 20), got 20")])
def test_train_epoch_bad_arguments(order, batch_size, word):
    eng = build_engine("fused")
    before = [p.clone() for p in eng.model.parameters()]
    with pytest.raises(ValueError, match=re.escape(word)):
        eng.train_epoch(torch.randn(20, 784), torch.randint(0, 10, (20,)), order, batch_size)
    assert all(torch.equal(p, q) for p, q in zip(before, eng.model.parameters()))


class _EagerGraphs:
    """graphed-reference with its two CUDA pieces made eager, so that its bookkeeping runs on a CPU: the
    warm-up step runs on the current stream, and a 'captured' step re-runs the eager step at each replay."""

    def _warmup_step(self, x, y):
        return self._eager(x, y)

    def _record(self, step):
        return step


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_graphed_reference_steps_as_reference_through_warmup_capture_new_shapes_and_a_changed_lr(optimizer):
    """graphed-reference's host side: 3 eager steps per batch shape, then one capture and replays over
    static copies of the batch; the ragged batch gets its own graph, a changed lr a new one (after its own
    warm-up) that frees those of the old lr. With eager stand-ins for the CUDA pieces it trains exactly as
    reference (the same optimizer, bit for bit). The real graphs: tests/test_cuda.py."""
    from minitorch_clf.engines import GraphedReferenceEngine, make_optimizer
    from minitorch_clf.models import MLPConfig, ReferenceNet

    ref = build_engine("reference", optimizer=optimizer, lr=0.01, seed=2)
    model = ReferenceNet(MLPConfig())
    model.load_state_dict(ref.model.state_dict())
    opt = make_optimizer(torch.optim, optimizer, model.parameters(), lr=0.01, momentum=0.9)
    eng = type("Eager", (_EagerGraphs, GraphedReferenceEngine), {})(model, opt, MLPConfig(), torch.device("cpu"),
                                                                    torch.float32)
    for step, n in enumerate([64] * 5 + [37] * 4 + [64] * 4):
        if step == 9:                                    # a new lr: the 64-batch graph is not reused
            for e in (ref, eng):
                e.optimizer.param_groups[0]["lr"] = 0.02
        x, y = batch(n, seed=step)
        got, want = eng.step(x, y), ref.step(x, y)
        assert torch.equal(got, want), step
        if step == 10:                                   # (64, lr 0.02) still warming up: the old graphs stay
            assert [k[0] for k in eng.graphs] == [(64, 1, 28, 28), (37, 1, 28, 28)]
    assert list(eng.graphs) == [eng._key(batch(64)[0])]  # captured at lr 0.02; those of lr 0.01 freed
    for p, q in zip(eng.model.parameters(), ref.model.parameters()):
        assert torch.equal(p, q)


def test_graphed_reference_is_refused_on_a_cpu_in_one_line():
    from minitorch_clf.engines import GPU_ENGINES

    assert GPU_ENGINES == ("graphed-reference",) and "graphed-reference" not in ENGINES
    with pytest.raises(ValueError, match="^engine: graphed-reference captures the seed's step as a CUDA graph "
                                         "and runs on a GPU \\(device cuda\\), not on cpu$"):
        build_engine("graphed-reference")


class _Replay:
    """A stand-in for a captured CUDA graph: replay() runs `step` on the static batch into the static loss."""

    def __init__(self, step, x, y, loss, delay=0.0):
        self.step, self.x, self.y, self.loss, self.delay = step, x, y, loss, delay

    def replay(self):
        import time

        self.loss.copy_(self.step(self.x, self.y))
        time.sleep(self.delay)


def _stand_ins(eng, x, y, kernel_lr=None, delays=(0.0, 0.0)):
    """(layered, one-kernel) 'graphs' of a CPU fused engine: the layered step, and mlp_sgd_step_ (the CPU op, the
    same bits), with another lr where kernel_lr is given (a one-kernel step that is wrong)."""
    def kernel_step(sx, sy):
        args = list(eng._one_call_args())
        if kernel_lr is not None:
            args[4] = kernel_lr
        return torch.ops.minitorch_clf.mlp_sgd_step_(sx, sy, *args)

    graphs = (_Replay(eng._eager_step, x.clone(), y.clone(), torch.zeros(()), delays[0]),
              _Replay(kernel_step, x.reshape(len(x), -1).clone(), y.clone(), torch.zeros(()), delays[1]))
    return [(g, g.x, g.y, g.loss) for g in graphs]           # the captured tuples: graph, static x, y, loss


@pytest.mark.parametrize("delays,chose", [((0.004, 0.0), "kernel"), ((0.0, 0.004), "graph")])
def test_cuda_step_auto_keeps_the_faster_of_two_agreeing_graphs_and_trains_nothing_while_choosing(delays, chose):
    """FusedEngine's cuda_step 'auto' (its _choose): both captured steps run once from the same state and agree,
    then race in turns; the faster one is kept, and every parameter and momentum buffer is as before choosing.
    Stand-ins for the two CUDA graphs run the CPU steps here (tests/test_cuda.py has the real ones)."""
    eng = build_engine("fused", lr=0.05, momentum=0.9, seed=1)
    x, y = batch(32, seed=3)
    eng.step(x, y)                                        # the momentum buffers
    before = eng._state()
    layered, kernel = _stand_ins(eng, x, y, delays=delays)
    got = eng._choose(("k",), layered, kernel, x, y)
    assert got is (kernel if chose == "kernel" else layered)
    record = eng.step_choices[("k",)]
    assert record["agree"] and record["chose"] == chose and record["graph_s"] > 0 and record["kernel_s"] > 0
    assert all(torch.equal(a, b) for a, b in zip(before, eng._state()))


def test_cuda_step_auto_refuses_a_one_kernel_step_that_disagrees(recwarn):
    eng = build_engine("fused", lr=0.05, momentum=0.9, seed=1)
    x, y = batch(32, seed=3)
    eng.step(x, y)
    before = eng._state()
    layered, kernel = _stand_ins(eng, x, y, kernel_lr=0.06, delays=(0.004, 0.0))   # faster, and wrong
    assert eng._choose(("k",), layered, kernel, x, y) is layered
    assert eng.step_choices[("k",)] == {"batch_shape": "k", "agree": False, "chose": "graph"}
    assert any("the one-kernel CUDA step disagrees with the layered step" in str(w.message) for w in recwarn)
    assert all(torch.equal(a, b) for a, b in zip(before, eng._state()))
