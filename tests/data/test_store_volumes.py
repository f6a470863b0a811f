"""``--store`` on DICOM/NIfTI data: these are never converted to a memory-mapped store (each entry's decoded uint8
image is cached as one small file, and the data are held in memory), so ``--store mmap`` is refused in one line
saying so; it had been ignored without a word (user walkthrough: ``train --data dcm/labels.csv --store mmap`` made
no store). The default ``auto``, which every older run saved, and ``memory`` (what is done) still load.

Images are written in the test (pydicom, nibabel); nothing is downloaded.
"""
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from pydicom.uid import generate_uid

from medtrain.config import resolve
from medtrain.config.checks import check_typed_for_a_new_run
from medtrain.data import StoreNotAppliedWarning, load_splits
from medtrain.errors import MedtrainError

from conftest import run_cli
from test_dicom import write_slice


def _dicom_csv(root: Path, n: int = 6) -> Path:
    """``n`` 2D DICOM images (12x12) of two classes, listed in ``root/labels.csv``."""
    root.mkdir(parents=True)
    rows = ["path,label"]
    rng = np.random.default_rng(0)
    for i in range(n):
        write_slice(root / f"img{i}.dcm", rng.integers(0, 200, (12, 12)).astype(np.int16), (0, 0, 0), generate_uid(),
                    patient_id=f"P{i}")
        rows.append(f"img{i}.dcm,{i % 2}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root / "labels.csv"


def _nifti_csv(root: Path, n: int = 6) -> Path:
    """``n`` small NIfTI volumes of two classes, listed in ``root/labels.csv``."""
    root.mkdir(parents=True)
    rows = ["path,label"]
    rng = np.random.default_rng(0)
    for i in range(n):
        nib.save(nib.Nifti1Image(rng.random((8, 8, 8)).astype(np.float32) + i % 2, np.eye(4)), root / f"v{i}.nii.gz")
        rows.append(f"v{i}.nii.gz,{i % 2}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root / "labels.csv"


def _settings(csv: Path, cache: Path, **over) -> dict:
    return {"data": str(csv), "data_dir": str(cache), "val_fraction": 0.34, "test_fraction": 0.34,
            "volume_size": 8, **over}


@pytest.mark.parametrize("make", [_dicom_csv, _nifti_csv], ids=["dicom-2d", "nifti"])
def test_store_mmap_on_dicom_or_nifti_data_is_refused_saying_what_is_done_instead(tmp_path, make):
    csv, cache = make(tmp_path / "d"), tmp_path / "cache"
    with pytest.raises(MedtrainError) as e:  # a new run's typed --store mmap
        check_typed_for_a_new_run(resolve(_settings(csv, cache, store="mmap")), given={"store"})
    msg = str(e.value)
    assert "\n" not in msg and "--store mmap" in msg and str(csv) in msg and "DICOM/NIfTI" in msg
    assert "one small uint8 file per entry" in msg and str(cache / "volumes") in msg
    assert not (cache / "store").exists() and not (cache / "volumes").exists()  # refused before anything is decoded


def test_a_run_saved_with_store_mmap_on_dicom_still_loads_with_a_warning(tmp_path):
    """An older medtrain recorded --store mmap for DICOM data and ignored it: eval, predict and explain, which
    resolve the saved config, read its data as it was trained, saying the setting is not applied."""
    csv, cache = _dicom_csv(tmp_path / "d"), tmp_path / "cache"
    with pytest.warns(StoreNotAppliedWarning, match="store mmap not applied"):
        s = load_splits(resolve(_settings(csv, cache, store="mmap")))
    assert len(s.train) + len(s.val) + len(s.test) == 6 and not (cache / "store").exists()


@pytest.mark.parametrize("make", [_dicom_csv, _nifti_csv], ids=["dicom-2d", "nifti"])
def test_the_default_store_and_memory_still_load_volumes_through_their_cache(tmp_path, make):
    csv, cache = make(tmp_path / "d"), tmp_path / "cache"
    # no store key (a config saved before --store existed), auto (the default every run saved since), memory
    loaded = [load_splits(resolve(_settings(csv, cache, **store)))
              for store in ({}, {"store": "auto"}, {"store": "memory"})]
    for s in loaded:
        assert len(s.train) + len(s.val) + len(s.test) == 6
        assert s.train.images.equal(loaded[0].train.images)
    assert len(list((cache / "volumes").iterdir())) == 6 and not (cache / "store").exists()


def test_a_saved_run_config_with_store_auto_still_loads(tmp_path):
    """config.yaml as an older run wrote it (every key, store: auto) reads the same data again."""
    import yaml

    csv, cache = _dicom_csv(tmp_path / "d"), tmp_path / "cache"
    saved = tmp_path / "config.yaml"
    saved.write_text(yaml.safe_dump({**vars(resolve(_settings(csv, cache))), "store": "auto"}))
    s = load_splits(resolve(yaml.safe_load(saved.read_text())))
    assert s.extra["kind"] == "image" and s.train.images.shape[-2:] == (12, 12)


def test_train_with_store_mmap_on_a_dicom_csv_exits_2_in_one_line_leaving_no_run(tmp_path, capsys):
    csv, cache = _dicom_csv(tmp_path / "d"), tmp_path / "cache"
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "--data", csv, "--data-dir", cache, "--store", "mmap", "--out", run,
                             "--epochs", "1", "--accelerator", "cpu")
    assert code == 2 and "Traceback" not in err
    assert "--store mmap" in err and "one small uint8 file per entry" in err and len(err.strip().splitlines()) == 1
    assert not run.exists() and not (cache / "store").exists()
