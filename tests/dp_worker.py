"""What each rank of tests/test_distributed.py runs (a module of its own: spawned ranks import it)."""
import torch

from minitorch_clf import data as D
from minitorch_clf import distributed as DP
from minitorch_clf.engines import build_engine

ROWS, BATCH, STEPS = 400, 16, 12      # per-rank batch; the global batch is BATCH x ranks


def dataset(rows: int = ROWS) -> D.Split:
    g = torch.Generator().manual_seed(7)
    return D.Split(torch.randint(0, 256, (rows, 28, 28), generator=g, dtype=torch.uint8),
                   torch.randint(0, 10, (rows,), generator=g), 0.13, 0.31)


def run_steps(engine, loader, steps: int, world=None) -> list[float]:
    """`steps` steps over the loader's epochs; the per-step losses (the global mean over ranks)."""
    losses, epoch = [], 0
    while len(losses) < steps:
        for x, y in loader.epoch(epoch):
            loss = engine.step(x, y).detach().double().reshape(1)
            losses.append((world.mean_(loss) if world else loss).item())
            if len(losses) == steps:
                break
        epoch += 1
    return losses


def configs():
    for dtype in (torch.float64, torch.float32):
        for engine in ("reference", "manual", "fused"):
            for zero1 in ((False, True) if engine != "reference" else (False,)):
                for optimizer in (("sgd", "adam") if dtype == torch.float64 else ("sgd",)):
                    yield engine, zero1, dtype, optimizer


def build(engine: str, dtype, optimizer: str):
    return build_engine(engine, optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 1e-3, dtype=dtype, seed=3)


def all_configs(out: str, bucket_kb: float, world) -> None:
    """Every configuration's per-step losses and final weights, and one step's gradients of DDP and
    of the hand-written buckets side by side; rank 0 saves them to `out`."""
    results = {}
    for engine_name, zero1, dtype, optimizer in configs():
        engine = build(engine_name, dtype, optimizer)
        DP.attach(engine, world, bucket_kb, zero1)
        loader = DP.ShardLoader(D.TensorLoader(dataset(), BATCH * world.size, seed=1, dtype=dtype), world)
        losses = run_steps(engine, loader, STEPS, world)
        results[(engine_name, zero1, str(dtype), optimizer)] = {
            "losses": losses, "weights": {k: v.clone() for k, v in engine.model.state_dict().items()},
            "optimizer": engine.optimizer.state_dict(), "all_reduce": engine.grad_sync is not None}
    grads = {}
    for engine_name in ("reference", "manual"):
        engine = build(engine_name, torch.float64, "sgd")
        DP.attach(engine, world, bucket_kb, False)
        x, y = next(DP.ShardLoader(D.TensorLoader(dataset(), BATCH * world.size, seed=1, dtype=torch.float64),
                                   world).epoch(0))
        engine.step(x, y)                                   # the averaged gradients stay in .grad
        grads[engine_name] = {n: p.grad.clone() for n, p in engine.model.named_parameters()}
        if engine_name == "manual":
            names = {id(p): n for n, p in engine.model.named_parameters()}
            grads["buckets"] = [[names[id(p)] for p in b] for b in engine.grad_sync.buckets]
    if world.is_writer:
        torch.save({"results": results, "grads": grads}, out)


def hang_or_die(mode: str, world) -> None:
    """Rank 1 dies (os._exit) or hangs (sleeps) after two all-reduces; rank 0 goes on reducing."""
    import os
    import time

    t = torch.ones(4)
    for step in range(1000):
        if world.rank == 1 and step == 2:
            if mode == "die":
                os._exit(9)
            time.sleep(3600)
        world.mean_(t)
