"""What atomic_directory renames into place has the permissions a plain mkdir()/open() gives under the umask,
not tempfile's owner-only 0700/0600: a checkpoint or an export can be read by another user or a serving process."""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
import torch

from framework.atomic import apply_umask, atomic_directory, current_umask, file_mode
from framework.checkpoint import save_checkpoint
from framework.hf import export_hf, import_hf
from tests.framework.inference.conftest import GPT, make


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_of(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): mode(p) for p in [root, *root.rglob("*")]}


def expected_modes(root: Path, mask: int) -> dict[str, int]:
    return {str(p.relative_to(root)): (0o777 if p.is_dir() else 0o666) & ~mask for p in [root, *root.rglob("*")]}


def test_current_umask_reads_without_changing_it(umask):
    assert current_umask() == umask
    assert current_umask() == umask
    assert file_mode() == 0o666 & ~umask and file_mode(executable=True) == 0o777 & ~umask


def test_every_file_and_directory_gets_the_umask_permissions(tmp_path, umask):
    from safetensors.torch import save_file

    private = tmp_path / "private.txt"
    private.write_text("x")
    private.chmod(0o600)
    target = tmp_path / "out"
    with atomic_directory(target) as tmp:
        save_file({"w": torch.zeros(2)}, str(tmp / "model.safetensors"))  # safetensors creates it 0600
        (tmp / "config.yaml").write_text("a: 1\n")
        (tmp / "sub").mkdir()
        shutil.copy2(private, tmp / "sub" / "copied.txt")  # copy2 keeps the source's 0600
    assert modes_of(target) == expected_modes(target, umask)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_replacing_a_directory_gives_the_new_one_the_umask_permissions(tmp_path, umask):
    target = tmp_path / "out"
    target.mkdir(mode=0o700)
    (target / "old.txt").write_text("old")
    with atomic_directory(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert modes_of(target) == expected_modes(target, umask)


def test_apply_umask_keeps_executables_executable_and_leaves_links_alone(tmp_path, umask):
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "run.sh").chmod(0o700)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("x")
    outside.chmod(0o600)
    (tmp_path / "link").symlink_to(outside)
    apply_umask(tmp_path)
    assert mode(tmp_path / "run.sh") == 0o777 & ~umask
    assert mode(outside) == 0o600  # not followed
    outside.unlink()


def test_a_setgid_directory_keeps_its_bit(tmp_path, umask):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o2775)
    if not mode(shared) & stat.S_ISGID:
        pytest.skip("the file system does not keep setgid on directories")
    with atomic_directory(shared / "ckpt") as tmp:
        (tmp / "sub").mkdir()
    assert mode(shared / "ckpt") == stat.S_ISGID | (0o777 & ~umask)


@pytest.fixture(scope="module")
def gpt():
    return make(GPT)


def test_a_checkpoint_and_its_hf_export_and_import_are_readable_as_the_umask_says(gpt, tmp_path, umask):
    ckpt = save_checkpoint(tmp_path / "checkpoints" / "best", gpt.model, gpt.config, gpt.tokenizer)
    assert modes_of(ckpt) == expected_modes(ckpt, umask)
    assert mode(ckpt / "model.safetensors") == 0o666 & ~umask
    exported = export_hf(ckpt, tmp_path / "exported")
    assert modes_of(exported) == expected_modes(exported, umask)
    imported = import_hf(exported, tmp_path / "imported")
    assert modes_of(imported) == expected_modes(imported, umask)


def test_current_umask_without_proc_sets_and_restores_it(monkeypatch, umask):
    import builtins

    real_open = builtins.open

    def no_proc(path, *args, **kwargs):
        if str(path).startswith("/proc/"):
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_proc)
    assert current_umask() == umask
    monkeypatch.undo()
    assert current_umask() == umask


def test_the_resume_checkpoint_and_the_token_cache_follow_the_umask(tmp_path):
    import numpy as np

    from framework.data.token_cache import save_entry
    from framework.training.safety import AtomicCheckpointIO

    previous = os.umask(0o022)
    try:
        AtomicCheckpointIO().save_checkpoint({"global_step": 1}, tmp_path / "lightning" / "last.ckpt")
        save_entry(tmp_path / "cache" / "entry", {"splits": {}}, {"train": {"ids": np.arange(3)}})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "lightning" / "last.ckpt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "cache" / "entry").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "cache" / "entry" / "train.ids.npy").stat().st_mode) == 0o644
