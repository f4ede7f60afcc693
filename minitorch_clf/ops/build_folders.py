"""The build folders other checkouts left under the build root: listed by `minitorch-clf build`, removed by
`minitorch-clf build --prune` where their checkout is gone.

build_root() names one folder per torch version, Python and checkout (the last eight hex digits: sha1 of the
checkout's kernels/ path), so a clone that is deleted leaves its folder behind: 8-13 MB of objects, the library
and its tuning cache, which nothing reads again. Each folder records the kernels/ it was built from in
checkout.txt; older folders are read from their build.ninja, which names every source by its absolute path.
A recorded path counts only where its hash is the folder's own, so a path read wrongly (ninja escapes spaces)
leaves the folder unknown and kept, never removed.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

MARKER = "checkout.txt"
_NAME = re.compile(r"torch-.+-py\d+-([0-9a-f]{8})")
_SOURCE = re.compile(r"(/\S+)/kernels/(?:cpu|cuda|common)/\S+\.(?:cpp|cu)\b")


def checkout_hash(kernels: Path | str) -> str:
    """The eight hex digits at the end of a checkout's folder name (build_root() names it with them)."""
    return hashlib.sha1(str(kernels).encode()).hexdigest()[:8]


def record_checkout(folder: Path, kernels: Path) -> None:
    """Write checkout.txt into a build folder where it does not hold kernels/ path already."""
    marker = folder / MARKER
    try:
        if marker.read_text().strip() == str(kernels):
            return
    except OSError:
        pass
    marker.write_text(f"{kernels}\n")


@dataclass(frozen=True)
class Folder:
    path: Path
    kernels: Path | None      # the checkout's kernels/ it was built from; None: not recorded
    bytes: int

    @property
    def gone(self) -> bool:
        """Its checkout no longer exists: nothing will load this build again."""
        return self.kernels is not None and not self.kernels.exists()


def _recorded(folder: Path) -> Path | None:
    """The kernels/ a build folder was built from, where checkout.txt or a build.ninja says it and the path's
    hash is the folder's own; else None."""
    match = _NAME.fullmatch(folder.name)
    if match is None:
        return None
    candidates = []
    try:
        candidates.append((folder / MARKER).read_text().strip())
    except OSError:
        pass
    for kind in ("cpu", "cuda"):
        try:
            found = _SOURCE.search((folder / kind / "build.ninja").read_text())
        except OSError:
            continue
        if found:
            candidates.append(f"{found.group(1)}/kernels")
    for path in candidates:
        if path and checkout_hash(path) == match.group(1):
            return Path(path)
    return None


def _size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def other_folders(current: Path) -> list[Folder]:
    """The build folders beside `current` (build_root()) under the same root, by name: only folders named
    as build_root() names them, never `current` itself."""
    try:
        entries = sorted(current.parent.iterdir())
    except OSError:
        return []
    return [Folder(p, _recorded(p), _size(p)) for p in entries
            if p != current and p.is_dir() and not p.is_symlink() and _NAME.fullmatch(p.name)]


def prune(current: Path) -> tuple[list[Folder], list[tuple[Folder, str]]]:
    """Remove the folders beside `current` whose checkout is gone. Returns (removed, [(folder, why not)])."""
    removed, failed = [], []
    for folder in other_folders(current):
        if not folder.gone:
            continue
        try:
            shutil.rmtree(folder.path)
        except OSError as e:
            failed.append((folder, e.strerror or str(e)))
        else:
            removed.append(folder)
    return removed, failed
