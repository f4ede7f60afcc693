"""The jax peer (engines/jax_step.py): a jax.jit step of the same MLP, for the benchmarks. It must
train exactly as the seed does, or its timings compare different work.

jax is imported by the tests themselves, and this file runs after test_ops.py's forked children:
a process that has started jax's threads should not fork."""
import pytest
import torch

from minitorch_clf.engines import ENGINES, PEERS, build_engine


@pytest.fixture(autouse=True)
def jax():
    return pytest.importorskip("jax", reason="the jax peer needs the peers extra (jax)")


@pytest.mark.slow
@pytest.mark.parametrize("optimizer,kw", [("sgd", {"momentum": 0.9, "weight_decay": 1e-3}), ("adam", {}),
                                          ("adamw", {"weight_decay": 0.05})])
def test_jax_follows_the_seed_float64(optimizer, kw):
    ref, peer = (build_engine(n, optimizer=optimizer, lr=0.01, dtype=torch.float64, seed=5, **kw)
                 for n in ("reference", "jax"))
    g = torch.Generator().manual_seed(1)
    for _ in range(6):
        x, y = torch.randn(24, 1, 28, 28, generator=g, dtype=torch.float64), torch.randint(0, 10, (24,), generator=g)
        torch.testing.assert_close(peer.step(x, y), ref.step(x, y), rtol=1e-12, atol=0)
    for k, v in ref.state_dict()["model"].items():                 # the weights come back to torch
        torch.testing.assert_close(peer.state_dict()["model"][k], v, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(peer.predict(x), ref.predict(x), rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_jax_bf16_follows_the_autocast_seed_and_is_not_its_float32_step():
    """precision='bf16': bf16 operands, float32 sums (autocast's semantics) - the seed under autocast and
    jax within the bf16 bound of each other over a few steps, both far from their float32 steps."""
    from minitorch_clf.checks import PRECISION_BOUND

    engines = {(n, p): build_engine(n, lr=0.05, seed=3, precision=p) for n in ("reference", "jax")
               for p in ("float32", "bf16")}
    g = torch.Generator().manual_seed(2)
    for _ in range(3):
        x, y = torch.randn(32, 784, generator=g), torch.randint(0, 10, (32,), generator=g)
        losses = {k: e.step(x, y).item() for k, e in engines.items()}
    flat = {k: torch.cat([p.reshape(-1) for p in e.state_dict()["model"].values()]) for k, e in engines.items()}
    scale = flat["reference", "float32"].abs().max()
    bound = PRECISION_BOUND["bf16"]
    assert (flat["jax", "bf16"] - flat["reference", "bf16"]).abs().max() <= bound * scale
    assert abs(losses["jax", "bf16"] - losses["reference", "bf16"]) <= bound * losses["reference", "bf16"]
    bf16_gap = (flat["jax", "bf16"] - flat["jax", "float32"]).abs().max()
    f32_gap = (flat["jax", "float32"] - flat["reference", "float32"]).abs().max()
    assert bf16_gap > 100 * f32_gap


def test_jax_is_a_peer_and_refuses_what_it_lacks():
    assert "jax" in PEERS and "jax" not in ENGINES
    with pytest.raises(ValueError, match="optimizer.*nesterov"):
        _jax_with(nesterov=True)
    peer = build_engine("jax")
    with pytest.raises(ValueError, match="does not load checkpoints"):
        peer.load_state_dict(peer.state_dict())


def _jax_with(**group):
    from minitorch_clf.engines.jax_step import JaxEngine
    from minitorch_clf.models import MLPConfig, SimpleNet
    from minitorch_clf.optim import SGD

    model = SimpleNet()
    return JaxEngine(model, SGD(model.parameters(), lr=0.1, momentum=0.9, **group), MLPConfig(), torch.device("cpu"),
                     torch.float32)
