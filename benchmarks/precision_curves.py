"""What bf16 products do to training: the same run (seed, weights, batches) with its products in float32
and in bf16, loss and accuracy per epoch on one plot.

    python benchmarks/precision_curves.py OUT.png [--dataset mnist-5k|mnist] [--data-dir DIR] [--epochs 10]
                                          [--seed 0] [--runs manual:float32,...]

Each run is `minitorch-clf train`'s (TrainConfig, Adam lr 1e-3, batch 64 unless given); the default runs
are `manual` in float32 and bf16 (round_to written out) and `reference` in bf16 (torch.autocast). tf32
is a GPU's format: add `reference:tf32` there. The table and OUT.json (the metrics) go beside the plot.
Full MNIST: `bash scripts/fetch_mnist.sh DIR` first, then `--dataset mnist --data-dir DIR`.
"""
import argparse
import json
import tempfile
from pathlib import Path

from minitorch_clf.config import TrainConfig
from minitorch_clf.data import DataError
from minitorch_clf.errors import UsageError
from minitorch_clf.plotting import pyplot
from minitorch_clf.train import train


def curves(runs: list[str], dataset: str, epochs: int, device: str, data_dir: str = "data",
           seed: int = 0) -> dict[str, list[dict]]:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in runs:
            engine, _, precision = run.partition(":")
            cfg = TrainConfig(dataset=dataset, engine=engine, precision=precision or "float32", epochs=epochs,
                              device=device, data_dir=data_dir, seed=seed)
            cfg.validate()
            out[run] = train(cfg, Path(tmp) / run.replace(":", "-"), progress=False, log=lambda m: None).metrics
            last = out[run][-1]
            print(f"{run:18s} epoch {last['epoch']}: train loss {last['train_loss']:.4f}, test loss "
                  f"{last['test_loss']:.4f}, test accuracy {100 * last['test_accuracy']:.2f}%", flush=True)
    return out


def plot(metrics: dict[str, list[dict]], path: Path, title: str) -> None:
    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for run, ms in metrics.items():
        epochs = [m["epoch"] for m in ms]
        line, = ax_loss.plot(epochs, [m["train_loss"] for m in ms], label=f"{run} train")
        ax_loss.plot(epochs, [m["test_loss"] for m in ms], ls="--", color=line.get_color(), label=f"{run} test")
        ax_acc.plot(epochs, [100 * m["test_accuracy"] for m in ms], marker="o", ms=3, label=run)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the plot (.png); the metrics go to the same name .json")
    parser.add_argument("--dataset", default="mnist-5k")
    parser.add_argument("--data-dir", default="data", help="where --dataset mnist's files are (scripts/fetch_mnist.sh)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="weights and batch order (the same for every run)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", default="manual:float32,manual:bf16,reference:bf16")
    args = parser.parse_args()
    try:
        metrics = curves(args.runs.split(","), args.dataset, args.epochs, args.device, args.data_dir, args.seed)
    except (DataError, UsageError) as e:              # a missing data set, a bad run or option: one line
        parser.exit(2, f"precision_curves: {e}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(metrics, indent=1) + "\n")
    plot(metrics, args.out, f"{args.dataset}, {args.epochs} epochs, Adam lr 1e-3, batch 64: products in float32 and bf16")
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
