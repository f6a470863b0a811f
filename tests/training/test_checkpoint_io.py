"""A checkpoint save that fails (a full disk) keeps the checkpoint already there; $TMPDIR plays no part in it."""
import builtins
import errno
import os
import tempfile
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

import medtrain
from medtrain.errors import TrainingInterrupted
from conftest import fast_config


class _FullDisk:
    """The file system of ``folder`` with room for ``room`` more bytes: writes into files opened there fail with
    ENOSPC once it is spent, after writing what fits (what a disk that fills up does)."""

    def __init__(self, folder: Path, room: int):
        self.folder, self.room = Path(folder).resolve(), room

    def holds(self, path) -> bool:
        try:
            return self.folder in Path(os.fspath(path)).resolve().parents
        except TypeError:  # a file descriptor
            return False

    def opener(self, real_open):
        def open_(file, mode="r", *args, **kw):
            f = real_open(file, mode, *args, **kw)
            return _Filling(f, self) if any(c in mode for c in "wax+") and self.holds(file) else f
        return open_


class _Filling:
    def __init__(self, f, disk):
        self._f, self._disk = f, disk

    def write(self, data):
        n = min(len(data), max(self._disk.room, 0))
        self._f.write(bytes(memoryview(data)[:n]))
        self._disk.room -= n
        if n < len(data):
            self._f.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return len(data)

    def fileno(self):  # no way around write(): shutil's sendfile and others use the descriptor
        raise OSError(errno.EBADF, "no descriptor")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()

    def __getattr__(self, name):
        return getattr(self._f, name)


def _other_file_system(monkeypatch, tmpdir: Path):
    """$TMPDIR as a file system of its own: a rename out of it is refused with EXDEV, as across devices."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    rename = os.rename

    def cross_device(src, dst, *a, **kw):
        inside = [Path(tmpdir).resolve() in Path(os.fspath(p)).resolve().parents for p in (src, dst)]
        if inside[0] != inside[1]:
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
        return rename(src, dst, *a, **kw)

    monkeypatch.setattr(os, "rename", cross_device)


class DiskFillsAt(pl.Callback):
    """At the end of ``epoch`` (before its checkpoints are saved: Lightning runs checkpoint callbacks last) the
    run folder's disk has room for half a checkpoint; the checkpoints of the epoch before are kept aside."""

    def __init__(self, epoch, monkeypatch):
        self.epoch, self.monkeypatch, self.before = epoch, monkeypatch, None

    def on_validation_end(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            folder = Path(trainer.default_root_dir) / "checkpoints"
            self.before = {p.name: p.read_bytes() for p in folder.iterdir()}
            disk = _FullDisk(folder, room=len(self.before["last.ckpt"]) // 2)
            self.monkeypatch.setattr(builtins, "open", disk.opener(builtins.open))


def test_a_checkpoint_save_the_disk_cannot_hold_keeps_the_previous_checkpoints_whole(tiny_npz, tmp_path,
                                                                                     monkeypatch):
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    _other_file_system(monkeypatch, tmpdir)  # the case that lost them: $TMPDIR elsewhere than --out
    out = tmp_path / "run"
    full = DiskFillsAt(1, monkeypatch)
    with pytest.raises((medtrain.MedtrainError, OSError)) as failed:
        medtrain.train(fast_config(tiny_npz, out, epochs=2, checkpoint="last"), verbose=False, callbacks=[full])
    monkeypatch.undo()
    after = {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()}
    assert set(full.before) == {"best.ckpt", "last.ckpt"}
    assert after == full.before  # byte-identical, and no temporary file left beside them
    assert list(tmpdir.iterdir()) == []
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 0  # --resume reads it
    # said in one line, not a traceback
    assert issubclass(failed.type, medtrain.MedtrainError) and "No space left on device" in str(failed.value)


def test_training_writes_its_checkpoints_with_a_full_tmpdir(tiny_npz, tmp_path, monkeypatch):
    tmpdir = tmp_path / "tmpdir"  # $TMPDIR on a small disk already full (HPC nodes, containers); --out has room
    tmpdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    monkeypatch.setattr(builtins, "open", _FullDisk(tmpdir, room=0).opener(builtins.open))
    out = tmp_path / "run"
    seen = _CheckpointsAtFitEnd()
    m = medtrain.train(fast_config(tiny_npz, out, epochs=1), verbose=False, callbacks=[seen])
    monkeypatch.undo()
    assert m["best_epoch"] == 0
    assert seen.epochs == {"best.ckpt": 0, "last.ckpt": 0}  # written whole, and nothing else beside them
    assert not (out / "checkpoints").exists()  # the finished run's are removed


class _CheckpointsAtFitEnd(pl.Callback):
    """The epoch of each file in ``checkpoints/`` as training ends (the finished run removes them)."""

    def on_fit_end(self, trainer, pl_module):
        folder = Path(trainer.default_root_dir) / "checkpoints"
        self.epochs = {p.name: torch.load(p, weights_only=True)["epoch"] for p in folder.iterdir()}


class _StopAfterFirstEpoch(pl.Callback):
    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise KeyboardInterrupt  # Ctrl-C once epoch 0's checkpoints are saved


class _SeesCheckpoints(pl.Callback):
    def on_fit_start(self, trainer, pl_module):
        self.names = sorted(p.name for p in (Path(trainer.default_root_dir) / "checkpoints").iterdir())


def test_temporary_files_of_a_killed_checkpoint_save_are_removed_before_training_resumes(tiny_npz, tmp_path):
    # a run SIGKILLed while saving a checkpoint left checkpoints/.best.ckpt.<random>.tmp (a checkpoint's size) that
    # nothing removed, not even a later --resume
    out = tmp_path / "run"
    with pytest.raises(TrainingInterrupted, match="--resume"):
        medtrain.train(fast_config(tiny_npz, out, epochs=2), verbose=False, callbacks=[_StopAfterFirstEpoch()])
    folder = out / "checkpoints"
    (folder / ".best.ckpt.k2x9ab_q.tmp").write_bytes(b"half a checkpoint")  # as the kill left them
    (folder / ".last.ckpt.0w8e1r3m.tmp").write_bytes(b"half a checkpoint")
    (folder / "notes.tmp").write_text("a user's file")  # not a checkpoint's temporary name: kept
    seen = _SeesCheckpoints()
    medtrain.train({"progress": False}, resume=out, verbose=False, callbacks=[seen])
    assert seen.names == ["best.ckpt", "last.ckpt", "notes.tmp"]  # gone before the first resumed epoch
    assert (out / "metrics.json").is_file()
    assert [p.name for p in folder.iterdir()] == ["notes.tmp"]  # the finished run's checkpoints removed, not it
