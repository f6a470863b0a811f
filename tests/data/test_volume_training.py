"""A DICOM-folder and a NIfTI-folder dataset train end to end through `medtrain.train`."""
import json

import nibabel as nib
import numpy as np
import pytest

import medtrain
from test_dicom import _dataset


def _fast(csv, out, **kw):
    cfg = dict(data=str(csv), model="resnet10_28_half", epochs=1, batch_size=4, progress=False, bootstrap=0,
               volume_size=8, out=str(out), accelerator="cpu", val_fraction=0.25, test_fraction=0.25,
               flip="true",  # no flip pilots (tests/training/test_choices.py)
               precision="32-true")  # as conftest.fast_config: bf16 is tests/training/test_precision.py's; here its
    # one optimiser step of 4 volumes was once not finite in the full suite (TrainingDiverged), though not alone
    cfg.update(kw)
    return cfg


def test_dicom_series_folder_trains_end_to_end(tmp_path):
    root, csv = _dataset(tmp_path, n_per_class=6)
    m = medtrain.train(_fast(csv, tmp_path / "run", window="mediastinum"), verbose=False)
    assert m["sizes"] == {"train": 4, "val": 4, "test": 4}
    again = medtrain.evaluate(tmp_path / "run", verbose=False)  # the saved weights score the test split the same
    assert again["n"] == 4 and again["auc"] == pytest.approx(m["test"]["auc"], abs=1e-6, nan_ok=True)
    assert again["acc"] == pytest.approx(m["test"]["acc"], abs=1e-6)
    text = (tmp_path / "run" / "metrics.json").read_text() + (tmp_path / "run" / "config.yaml").read_text()
    assert "SECRET" not in text


def test_nifti_folder_with_a_bad_file_skipped_and_listed(tmp_path):
    root = tmp_path / "nii"
    root.mkdir()
    rng = np.random.default_rng(0)
    rows = ["path,label"]
    for i in range(12):
        vol = rng.normal(0, 1, (10, 10, 10)).astype(np.float32)
        if i % 2:
            vol[3:7, 3:7, 3:7] += 4
        nib.save(nib.Nifti1Image(vol, np.diag([1.5, 1.5, 2.0, 1.0])), str(root / f"v{i}.nii.gz"))
        rows.append(f"v{i}.nii.gz,{i % 2}")
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4, 3), np.float32), np.eye(4)), str(root / "fourd.nii.gz"))
    rows.append("fourd.nii.gz,0")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    m = medtrain.train(_fast(root / "labels.csv", tmp_path / "run", skip_bad=True, spacing="2"), verbose=False)
    assert sum(m["sizes"].values()) == 12
    skipped = json.loads((tmp_path / "run" / "skipped.json").read_text())
    assert len(skipped) == 1 and skipped[0]["path"].endswith("fourd.nii.gz")
