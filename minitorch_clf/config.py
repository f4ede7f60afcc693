"""What a training run is: TrainConfig, every field checked before anything runs, and how it builds its
data, engine and loaders. One config feeds train, evaluate, --resume and --compare; config.json in
a run folder is this dataclass as JSON (run_folder.py)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from . import data as D
from .engines import (ENGINES, GPU_ENGINES, OPTIMIZERS, build_engine, check_engine_device, check_precision,
                      resolve_device)
from .errors import UsageError, expect_one_of
from .functional import ACTIVATIONS, PRECISIONS
from .models import MLPConfig
from .optim import takes_momentum

DTYPES = {"float32": torch.float32, "float64": torch.float64}
# Fields added after run folders were written, with the value every older run used (a config.json
# without them reads as such; any other missing field is refused).
ADDED_LATER = {"precision": "float32"}


def check_seed(seed) -> None:
    """A seed torch's generators take: an integer in [0, 2**63) (train's and check's --seed)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise UsageError(f"seed: expected an integer in [0, 2**63), got {seed!r}")


@dataclass
class TrainConfig:
    dataset: str = "mnist-5k"
    data_dir: str = "data"
    download: bool = False
    engine: str = "manual"
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float | None = None
    epochs: int = 10
    batch_size: int = 64
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    loader: str = "tensor"
    hidden: tuple[int, ...] = (128, 64)
    activation: str = "relu"
    precision: str = "float32"            # of the products' inputs: float32, tf32 (GPU) or bf16
    nproc: int = 1                        # data-parallel ranks; batch_size is each rank's (distributed.py)

    def validate(self) -> None:
        """Raise UsageError naming the first bad field; touches nothing."""
        choices = {"dataset": D.DATASETS, "engine": ENGINES + GPU_ENGINES, "optimizer": OPTIMIZERS,
                   "loader": tuple(D.LOADERS), "dtype": tuple(DTYPES), "activation": tuple(ACTIVATIONS),
                   "precision": PRECISIONS}
        for name, allowed in choices.items():
            expect_one_of(name, getattr(self, name), allowed, UsageError)
        for name in ("data_dir", "device"):
            if not isinstance(getattr(self, name), str):
                raise UsageError(f"{name.replace('_', '-')}: expected a string, got {getattr(self, name)!r}")
        if not isinstance(self.download, bool):
            raise UsageError(f"download: expected true or false, got {self.download!r}")
        for name in ("epochs", "batch_size", "nproc"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise UsageError(f"{name.replace('_', '-')}: expected a positive integer, got {value!r}")
        check_seed(self.seed)
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise UsageError(f"lr: expected a finite positive value, got {self.lr!r}")
        for name in ("momentum", "weight_decay"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise UsageError(f"{name.replace('_', '-')}: expected a finite value >= 0, got {value!r}")
        if isinstance(self.hidden, (tuple, list)) and not self.hidden:
            raise UsageError("hidden: expected at least one hidden layer, got none")
        try:
            MLPConfig(hidden=self.hidden, activation=self.activation)      # checked where the sizes are defined
        except ValueError as e:
            raise UsageError(str(e)) from None
        self._check_fits()
        try:
            device = resolve_device(self.device)
            check_engine_device(self.engine, device)
            check_precision(self.precision, self.engine, device, DTYPES[self.dtype])
        except ValueError as e:
            raise UsageError(str(e)) from None
        if self.nproc > 1:
            from .distributed import check_options

            try:
                check_options(self.engine)
            except ValueError as e:
                raise UsageError(str(e)) from None
            if self.loader != "tensor":
                raise UsageError("nproc: the ranks shard the resident tensor loader's batches; use --loader tensor")

    def _check_fits(self) -> None:
        """The network's weights, gradients and two optimizer states (Adam's) must fit in the memory
        available: a layer of 10**12 units was an allocation traceback, one of 10**8 the OOM killer."""
        from .distributed import available_memory

        sizes = MLPConfig(hidden=tuple(self.hidden)).sizes         # hidden checked before this is called
        params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
        need = 4 * params * DTYPES[self.dtype].itemsize
        free = available_memory()
        if free is not None and need > free:
            raise UsageError(f"hidden: {','.join(map(str, self.hidden))} makes {params:,} parameters, "
                             f"{need / 2**30:.1f} GiB with their gradients and optimizer state; "
                             f"{free / 2**30:.1f} GiB are available")

    def build(self):
        """(engine, train split, test split) ready to run."""
        train_split, test_split = self.load_data()
        return self.build_engine(train_split), train_split, test_split

    def load_data(self) -> tuple[D.Split, D.Split]:
        try:
            return D.load(self.dataset, self.data_dir, self.download, split_seed=self.seed)
        except D.DataError as e:
            raise UsageError(str(e)) from None

    def build_engine(self, train_split: D.Split):
        """This config's engine, sized for the images of `train_split`."""
        from .ops import BuildError

        h, w = train_split.images.shape[1:]
        config = MLPConfig(in_features=h * w, hidden=tuple(self.hidden), num_classes=10, activation=self.activation,
                           precision=self.precision)
        try:
            momentum = self.momentum if takes_momentum(self.optimizer) else None     # the field has a default
            return build_engine(self.engine, optimizer=self.optimizer, lr=self.lr, momentum=momentum,
                                weight_decay=self.weight_decay, device=self.device, dtype=DTYPES[self.dtype],
                                seed=self.seed, config=config)
        except (ValueError, TypeError, BuildError) as e:     # what the engine or optimizer refused, or no kernels
            raise UsageError(f"{self.engine}: {e}") from None

    def make_loader(self, split: D.Split, engine, shuffle: bool = True):
        return D.make_loader(self.loader, split, self.batch_size, device=engine.device, seed=self.seed,
                             shuffle=shuffle, dtype=engine.dtype)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        d = {**ADDED_LATER, **d}                   # what every run before such a field existed used
        unknown, missing = set(d) - fields, fields - set(d)
        if unknown:
            raise UsageError(f"config.json: unknown fields {sorted(unknown)}")
        if missing:                                # a default would stand in silently for what the run used
            raise UsageError(f"config.json: missing fields {sorted(missing)}")
        d = dict(d)
        if "hidden" in d:
            d["hidden"] = tuple(d["hidden"])
        return cls(**d)
