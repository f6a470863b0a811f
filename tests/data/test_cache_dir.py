"""One cache folder for downloads, decoded volumes and pretrained weights: medtrain._io.cache_dir."""

import nibabel as nib
import numpy as np
import pytest

from medtrain._io import cache_dir
from medtrain.data import medmnist
from medtrain.data.volumes import load_volume_folder
from medtrain.models import med3d


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.delenv("MEDTRAIN_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


def test_medtrain_data_wins_then_xdg_cache_home_then_home_cache(env, tmp_path):
    assert cache_dir() == tmp_path / "home" / ".cache" / "medtrain"
    env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "medtrain"
    env.setenv("MEDTRAIN_DATA", str(tmp_path / "data"))
    assert cache_dir() == tmp_path / "data"


def test_medmnist_volumes_and_weights_all_cache_under_xdg_cache_home(env, tmp_path):
    env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    root = tmp_path / "xdg" / "medtrain"
    env.setattr(medmnist, "_fetch", lambda url, dest: dest.parent.mkdir(parents=True, exist_ok=True)
                or dest.write_bytes(b"x"))
    env.setattr(medmnist, "md5sum", lambda p: medmnist._url_md5("breastmnist", 28)[1])
    assert medmnist.fetch("breastmnist", 28) == root / "breastmnist.npz"

    assert med3d._default_weights_dir() == root / "weights"

    scans = tmp_path / "scans"
    scans.mkdir()
    rows = ["path,label"]
    for i in range(6):
        nib.save(nib.Nifti1Image(np.random.default_rng(i).random((4, 4, 4), np.float32), np.eye(4)),
                 str(scans / f"v{i}.nii"))
        rows.append(f"v{i}.nii,{i % 2}")
    (scans / "labels.csv").write_text("\n".join(rows) + "\n")
    load_volume_folder(scans, size=4, val_fraction=0.2, test_fraction=0.2)
    assert len(list((root / "volumes").glob("*.npz"))) == 6
    assert not (tmp_path / "home" / ".cache").exists()  # (the medmnist package itself makes ~/.medmnist)
