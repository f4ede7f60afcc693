"""The build folders deleted checkouts leave behind (ops/build_folders.py, `minitorch-clf build --prune`)."""
from pathlib import Path

import pytest

from minitorch_clf.ops import build_folders


def folder_for(root: Path, kernels: Path, how: str = "marker") -> Path:
    """A build folder named as build_root() names the one of `kernels`, recorded as `how` says."""
    folder = root / f"torch-2.14.1_cu130-py311-{build_folders.checkout_hash(kernels)}"
    (folder / "cpu").mkdir(parents=True)
    (folder / "cpu" / "gemm.o").write_bytes(b"\0" * 1000)
    if how == "marker":
        build_folders.record_checkout(folder, kernels)
    elif how == "ninja":
        (folder / "cpu" / "build.ninja").write_text(
            f"build cross_entropy.o: compile {kernels}/cpu/cross_entropy.cpp\n")
    return folder


@pytest.fixture
def root(tmp_path):
    """A build root with this checkout's folder and one of each other kind."""
    root = tmp_path / "cache"
    here = tmp_path / "here" / "kernels"
    here.mkdir(parents=True)
    alive = tmp_path / "alive" / "kernels"
    alive.mkdir(parents=True)
    folders = {
        "current": folder_for(root, here),
        "gone": folder_for(root, tmp_path / "deleted-clone" / "kernels"),
        "gone, from build.ninja": folder_for(root, tmp_path / "older-clone" / "kernels", how="ninja"),
        "alive": folder_for(root, alive),
        "unrecorded": folder_for(root, tmp_path / "x" / "kernels", how="none"),
    }
    # a marker whose path is not the one the folder's name hashes: unknown, so kept
    wrong = folder_for(root, tmp_path / "y" / "kernels", how="none")
    (wrong / build_folders.MARKER).write_text(str(tmp_path / "z" / "kernels"))
    folders["marker of another path"] = wrong
    (root / "notes").mkdir()                          # not named as a build folder: never touched
    (root / "torch-readme.txt").write_text("mine")
    return folders


def test_other_folders_knows_which_checkouts_are_gone(root):
    others = {f.path: f for f in build_folders.other_folders(root["current"])}
    assert set(others) == {root[k] for k in root if k != "current"}
    assert {k for k in root if k != "current" and others[root[k]].gone} == {"gone", "gone, from build.ninja"}
    assert others[root["unrecorded"]].kernels is None
    assert others[root["marker of another path"]].kernels is None
    assert others[root["gone"]].bytes == 1000 + len(str(others[root["gone"]].kernels)) + 1


def test_prune_removes_only_the_folders_of_gone_checkouts(root):
    removed, failed = build_folders.prune(root["current"])
    assert {f.path for f in removed} == {root["gone"], root["gone, from build.ninja"]} and failed == []
    survivors = {p.name for p in root["current"].parent.iterdir()}
    assert survivors == {root[k].name for k in ("current", "alive", "unrecorded", "marker of another path")} | \
        {"notes", "torch-readme.txt"}


def test_build_prune_and_its_report(root, monkeypatch, capsys):
    from minitorch_clf import ops
    from minitorch_clf.tools import cli

    monkeypatch.setattr(ops, "build_root", lambda: root["current"])
    cli._print_other_builds()
    assert capsys.readouterr().out == (
        f"other builds under {root['current'].parent}: 2 from checkouts that are gone, 0.0 MB (`minitorch-clf build "
        "--prune` removes them); 3 from other checkouts or not recorded, kept\n")
    assert cli._prune_builds() is True
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "pruned 2 build folders of gone checkouts, 0.0 MB"
    assert sorted(out[:-1]) == sorted(f"removed {root[k]} (0.0 MB; its checkout {root[k].parent.parent / clone} is gone)"
                                      for k, clone in (("gone", "deleted-clone"), ("gone, from build.ninja", "older-clone")))
    assert cli._prune_builds() is True
    assert capsys.readouterr().out == f"no build folders of gone checkouts under {root['current'].parent}\n"


def test_a_folder_that_cannot_be_removed_is_one_line_and_exit_1(root, monkeypatch, capsys):
    from minitorch_clf import ops
    from minitorch_clf.tools import cli

    def refuse(path, *a, **k):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(ops, "build_root", lambda: root["current"])
    monkeypatch.setattr(build_folders.shutil, "rmtree", refuse)
    assert cli._prune_builds() is False
    out = capsys.readouterr().out.splitlines()
    assert sorted(out) == sorted(f"could not remove {root[k]}: Permission denied" for k in ("gone", "gone, from build.ninja"))
