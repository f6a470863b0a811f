"""A memory-mapped store whose folder cannot be written (a read-only shared data folder given as --data-dir) is
refused in one line that names the ways on, and those ways work."""
import errno
import os

import numpy as np
import pytest

from medtrain.cli import main
from medtrain.data import load_npz

from conftest import make_images


def _npz(path):
    arrays = {}
    for split, n, seed in zip(("train", "val", "test"), (70, 20, 20), (0, 1, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, seed=seed)
    np.savez_compressed(path, **arrays)
    return path


@pytest.fixture
def read_only(tmp_path, monkeypatch):
    """A folder that cannot be written: chmod 0555 where that binds (not as root, who writes anyway), else every
    file or folder made in it fails as on a read-only file system (EROFS)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.getuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    real_open, real_mkdir = os.open, os.mkdir

    def refuse(path, *args, **kwargs):
        if str(path).startswith(str(folder)):
            raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(os, "open", lambda path, *a, **k: refuse(path) or real_open(path, *a, **k))
    monkeypatch.setattr(os, "mkdir", lambda path, *a, **k: refuse(path) or real_mkdir(path, *a, **k))
    yield folder


def test_a_read_only_store_folder_names_the_ways_on(tmp_path, read_only, capsys):
    npz = _npz(tmp_path / "grey.npz")
    code = main(["train", "--data", str(npz), "--data-dir", str(read_only), "--store", "mmap", "--epochs", "1",
                 "--no-progress", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert str(read_only) in err and "cannot lock the memory-mapped store" in err
    assert "point --data-dir at a writable folder" in err and "--store memory" in err  # the ways on
    assert not (tmp_path / "run").exists()  # nothing half-written
    # which work: a writable --data-dir, the data left where they are; or no store at all
    mapped = load_npz(npz, store="mmap", data_dir=tmp_path / "writable")
    assert (tmp_path / "writable" / "store").is_dir()
    assert np.array_equal(mapped.train.images.numpy(), load_npz(npz, store="memory", data_dir=read_only)
                          .train.images.numpy())
