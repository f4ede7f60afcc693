"""What every command of the CLI shares: the checks that turn a library refusal into the
one-line error (UsageError: `minitorch-clf: error: ...`, exit 2)."""
from __future__ import annotations

from pathlib import Path

from ..errors import UsageError


def parse_device(name: str):
    """resolve_device, its ValueError as the CLI's one-line error."""
    from ..engines import resolve_device

    try:
        return resolve_device(name)
    except ValueError as e:
        raise UsageError(str(e)) from None


def cpu_isas() -> list[str]:
    from .. import ops

    try:
        return ops.cpu_isas()
    except ops.BuildError as e:
        raise UsageError(str(e)) from None


def check_writable(path: Path) -> None:
    """Before a long run: the folder of `path` exists and takes a new file (nothing is left behind)."""
    import tempfile

    try:
        tempfile.NamedTemporaryFile(dir=path.parent if str(path.parent) else ".", prefix=".write-test-").close()
    except OSError as e:
        raise UsageError(f"{path}: cannot write there ({e.strerror or e})") from None
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; expected a file name")


def capacity(nproc: int) -> str | None:
    """distributed.check_capacity as the CLI's one-line error (and its note on shared cores)."""
    from ..distributed import check_capacity

    try:
        return check_capacity(nproc)
    except ValueError as e:
        raise UsageError(str(e)) from None
