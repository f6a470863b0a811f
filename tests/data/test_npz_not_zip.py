"""A file named .npz that is no zip at all (a text file, a Git LFS pointer) is said to be one, in one line: numpy
falls back to unpickling any non-zip file, refused with allow_pickle=False, and medtrain had then said the file
"holds pickled (object) arrays". Real object arrays in a real .npz still say so."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import make_npz
from medtrain.data.medmnist import load_npz, load_npz_images
from medtrain.errors import MedtrainError

LFS = "version https://git-lfs.github.com/spec/v1\noid sha256:" + "ab" * 32 + "\nsize 4096\n"


@pytest.mark.parametrize("load", [load_npz, load_npz_images])
def test_a_text_file_named_npz_is_said_not_to_be_one(tmp_path, load):
    path = tmp_path / "data.npz"
    path.write_text("path,label\na.png,0\nb.png,1\n")
    with pytest.raises(MedtrainError) as e:
        load(path)
    said = str(e.value)
    assert "is not a .npz (zip) file" in said and "pickled" not in said and "\n" not in said


@pytest.mark.parametrize("load", [load_npz, load_npz_images])
def test_a_git_lfs_pointer_is_said_to_be_one(tmp_path, load):
    path = tmp_path / "pneumoniamnist.npz"
    path.write_text(LFS)
    with pytest.raises(MedtrainError) as e:
        load(path)
    said = str(e.value)
    assert "Git LFS pointer" in said and "git lfs pull" in said and "pickled" not in said


def test_object_arrays_in_a_real_npz_still_say_pickled(tmp_path):
    path = make_npz(tmp_path / "ok.npz", sizes=(8, 4, 4))
    arrays = dict(np.load(path))
    arrays["test_labels"] = np.array([0, "x", 1, 0], dtype=object)
    np.savez(path, **arrays)
    with pytest.raises(MedtrainError, match="pickled"):
        load_npz(path)


def test_a_valid_npz_and_an_empty_archive_still_read(tmp_path):
    assert len(load_npz(make_npz(tmp_path / "ok.npz", sizes=(8, 4, 4))).test) == 4
    np.savez(tmp_path / "empty.npz")
    with pytest.raises(MedtrainError, match="lacks the key"):
        load_npz(tmp_path / "empty.npz")
