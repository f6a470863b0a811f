"""The temporary files of a write that was killed (SIGKILL, the out-of-memory killer: no ``finally`` ran) are removed
the next time their folder is written: a run folder's (``.model.safetensors.<random>.tmp``, a model's size) when the
run is trained again under its lock, the volume cache's (``.KEY.npz.<random>.tmp``) once unwritten for an hour.
They had stayed for good, through any rerun (/tmp/walk_intr). A file of the user's is never taken for one."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import medtrain
from medtrain import rundir
from medtrain._io import sweep_temporaries
from medtrain.data import volumes
from medtrain.errors import TrainingInterrupted
from conftest import InterruptAt, fast_config, make_npz

USERS = ("notes.tmp", ".model.safetensors.bak", ".model.safetensors.tmp", "model.safetensors.abcd1234.tmp")


def _left_by_a_killed_writer(folder: Path, name: str, age_s: float = 0.0) -> Path:
    """The temporary ``_io.atomic_path`` writes ``folder/name`` under, as a killed process leaves it."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")  # atomic_path's own call
    os.write(fd, b"half a file")
    os.close(fd)
    if age_s:
        os.utime(tmp, (time.time() - age_s,) * 2)
    return Path(tmp)


def _users_files(folder: Path) -> list[Path]:
    for name in USERS:
        (folder / name).write_text("mine")
    return [folder / name for name in USERS]


def test_a_resumed_run_removes_the_temporaries_a_killed_writer_left_and_keeps_the_users_files(tmp_path):
    data = make_npz(tmp_path / "tiny.npz", sizes=(48, 16, 16))
    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted):
        medtrain.train(fast_config(data, run, epochs=3, bootstrap=0, batch_size=16), callbacks=[InterruptAt(1)])
    assert rundir.has_checkpoint(run) and not rundir.is_finished(run)
    stale = [_left_by_a_killed_writer(run, rundir.WEIGHTS_FILE), _left_by_a_killed_writer(run, rundir.METRICS_FILE),
             _left_by_a_killed_writer(run / rundir.CHECKPOINT_DIR, "best.ckpt")]
    kept = _users_files(run)
    medtrain.train(resume=run)
    assert rundir.is_finished(run)
    assert [p.name for p in stale if p.exists()] == []
    assert [p.read_text() for p in kept] == ["mine"] * len(kept)


def test_the_same_command_again_sweeps_too(tmp_path):
    data = make_npz(tmp_path / "tiny.npz", sizes=(48, 16, 16))
    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted):
        medtrain.train(fast_config(data, run, epochs=2, bootstrap=0, batch_size=16), callbacks=[InterruptAt(0)])
    stale = _left_by_a_killed_writer(run, rundir.WEIGHTS_FILE)
    medtrain.train(fast_config(data, run, epochs=2, bootstrap=0, batch_size=16))
    assert rundir.is_finished(run) and not stale.exists()


def test_only_temporaries_older_than_the_lock_are_removed_top_level_and_named_sub_folders(tmp_path):
    lock = tmp_path / rundir.LOCK_FILE
    old = _left_by_a_killed_writer(tmp_path, rundir.WEIGHTS_FILE, age_s=60)
    old_dir = Path(tempfile.mkdtemp(dir=tmp_path, prefix=".explain.", suffix=".tmp"))  # atomic_dir's
    os.utime(old_dir, (time.time() - 60,) * 2)
    in_checkpoints = _left_by_a_killed_writer(tmp_path / "checkpoints", "last.ckpt", age_s=60)
    deeper = _left_by_a_killed_writer(tmp_path / "mydata", "scan.nii", age_s=60)  # not a folder of the run's
    lock.write_text(str(os.getpid()))  # taken now
    live = _left_by_a_killed_writer(tmp_path, rundir.METRICS_FILE)
    os.utime(live, (time.time() + 5,) * 2)  # written after the lock was taken: ours, or a live writer's
    kept = _users_files(tmp_path)
    removed = sweep_temporaries(tmp_path, older_than=lock, within=("checkpoints",))
    assert sorted(removed) == sorted([old, old_dir, in_checkpoints])
    assert not old.exists() and not old_dir.exists() and not in_checkpoints.exists()
    assert live.exists() and deeper.exists() and all(p.exists() for p in kept)


def test_without_the_lock_file_nothing_is_removed(tmp_path):
    old = _left_by_a_killed_writer(tmp_path, rundir.WEIGHTS_FILE, age_s=3600)
    assert sweep_temporaries(tmp_path, older_than=tmp_path / rundir.LOCK_FILE) == [] and old.exists()


def test_the_volume_cache_drops_an_abandoned_temporary_entry_and_keeps_a_fresh_one(tmp_path, monkeypatch):
    monkeypatch.setattr(volumes, "_swept", set())
    scan = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(np.random.default_rng(0).normal(0, 1, (8, 8, 8)).astype(np.float32), np.eye(4)),
             str(scan))
    cache = tmp_path / "cache"
    key = "0" * 64 + ".npz"
    abandoned = _left_by_a_killed_writer(cache / "volumes", key, age_s=volumes.ABANDONED_S + 60)
    fresh = _left_by_a_killed_writer(cache / "volumes", key, age_s=60)  # perhaps another process writing it now
    kept = _users_files(cache / "volumes")
    volumes.load_entry(scan, size=8, cache_dir=cache)
    assert not abandoned.exists() and fresh.exists() and all(p.exists() for p in kept)
    assert len(list((cache / "volumes").glob("*.npz"))) == 1  # the entry itself was written
