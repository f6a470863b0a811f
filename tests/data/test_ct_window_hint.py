"""CT volumes in Hounsfield units read without --window: said once per data set, recorded in the run.

Without a window each volume is mapped between its own 1st and 99th percentile; a walkthrough's CT NIfTIs (air at
-1000 HU, tissue 40 HU, a 400 HU lesion on <1% of the voxels) had their lesion mapped ~10 grey levels above the
tissue (test AUC 0.625; 1.000 with --window), and nothing said that the data looked like CT or that a window
exists. MR-like and 8-bit volumes are not CT in HU and are not said of; the default rule itself is unchanged.
"""
import json
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel.testing import data_path

from medtrain.cli import main
from medtrain.data.volumes import load_entry, load_volume_folder
from test_dicom import _dataset

SAID = "look like CT in Hounsfield units"


def _ct(seed: int, lesion: bool) -> np.ndarray:
    """A CT volume in HU: air around a body of soft tissue and a bone, a small 400 HU lesion in half of them."""
    rng = np.random.default_rng(seed)
    v = np.full((10, 10, 10), -1000.0) + rng.normal(0, 10, (10, 10, 10))
    v[2:8, 2:8, 2:8] = rng.normal(40, 15, (6, 6, 6))
    v[2:8, 6, 5] = 700  # a bone
    if lesion:
        v[4:6, 4:6, 4:6] = 400
    return v


def _folder(root: Path, n: int = 8, as_stored=lambda v: v.astype(np.int16)) -> Path:
    root.mkdir(parents=True)
    rows = ["path,label"]
    for i in range(n):
        nib.save(nib.Nifti1Image(as_stored(_ct(i, bool(i % 2))), np.eye(4)), str(root / f"v{i}.nii.gz"))
        rows.append(f"v{i}.nii.gz,{'ab'[i % 2]}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def _load(root: Path, cache: Path, **kw):
    """The data set loaded, and the lines said of it as CT in HU."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = load_volume_folder(root, size=8, val_fraction=0.25, test_fraction=0.25, cache_dir=cache, **kw)
    return s, [str(w.message) for w in caught if SAID in str(w.message)]


def test_ct_volumes_without_a_window_are_said_of_in_one_line_with_their_count_and_the_flag(tmp_path):
    s, said = _load(_folder(tmp_path / "ct"), tmp_path / "cache")
    assert len(said) == 1, said  # one line for the data set, not one per volume
    line = said[0]
    assert "\n" not in line and line.startswith(str(tmp_path / "ct" / "labels.csv"))
    assert "8 of 8 volume(s)" in line and "1st and 99th percentile" in line
    assert "--window 0,2000" in line and "--window abdomen" in line  # level,width, as --window takes them
    assert s.extra["intensity"] == {"looks_like_hu": 8, "entries": 8, "window": None, "windowed": 0,
                                    "percentiles": [1.0, 99.0], "by_percentiles": 8}
    assert s.extra["normalisation"] == {"window": 0, "percentile": 8}  # the rule itself unchanged: said, not altered


def test_with_a_window_nothing_is_said_and_the_window_is_recorded(tmp_path):
    s, said = _load(_folder(tmp_path / "ct"), tmp_path / "cache", window="abdomen")
    assert said == []
    assert s.extra["intensity"]["window"] == [40.0, 400.0] and s.extra["intensity"]["windowed"] == 8
    assert s.extra["intensity"]["looks_like_hu"] == 8


@pytest.mark.parametrize("as_stored", [
    lambda v: ((v - v.min()) / (v.max() - v.min()) * 739 - 39).astype(np.float32),  # the same scans rescaled: MR-like
    lambda v: np.round((v - v.min()) / (v.max() - v.min()) * 255).astype(np.uint8),  # 8-bit volumes
    lambda v: ((v - v.mean()) / v.std()).astype(np.float32),  # z-scored
], ids=["mr-like", "uint8", "z-scored"])
def test_volumes_that_are_not_ct_in_hu_are_not_said_of(tmp_path, as_stored):
    s, said = _load(_folder(tmp_path / "d", as_stored=as_stored), tmp_path / "cache")
    assert said == [] and s.extra["intensity"]["looks_like_hu"] == 0


def test_a_real_mr_volume_does_not_look_like_hu(tmp_path):
    facts: dict = {}
    load_entry(Path(data_path) / "anatomical.nii", size=8, cache_dir=tmp_path / "cache", facts=facts)
    assert facts["hounsfield"] is False


def test_a_dicom_ct_series_counts_by_its_modality(tmp_path):
    root, csv = _dataset(tmp_path, n_per_class=4)  # Modality CT, rescaled to HU
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = load_volume_folder(root, csv, size=(4, 8, 8), val_fraction=0.25, test_fraction=0.25,
                               cache_dir=tmp_path / "cache")
    assert s.extra["intensity"]["looks_like_hu"] == 8
    assert sum(SAID in str(w.message) and "8 of 8 volume(s)" in str(w.message) for w in caught) == 1


def test_a_cache_entry_keeps_the_fact_and_one_written_before_it_is_rebuilt(tmp_path):
    root, cache = _folder(tmp_path / "ct"), tmp_path / "cache"
    _load(root, cache)
    entries = sorted((cache / "volumes").glob("*.npz"))
    assert len(entries) == 8 and all("hounsfield" in np.load(f).files for f in entries)
    with np.load(entries[0]) as z:  # as an older medtrain wrote it
        old = {"voxels": z["voxels"], "windowed": z["windowed"]}
    np.savez(entries[0], **old)
    s, _ = _load(root, cache)
    assert s.extra["intensity"]["looks_like_hu"] == 8 and "hounsfield" in np.load(entries[0]).files


def _train(data: Path, out: Path, cache: Path, capsys, *extra) -> str:
    rc = main(["train", "--data", str(data / "labels.csv"), "--model", "resnet10_28_half", "--volume-size", "8",
               "--epochs", "1", "--batch-size", "4", "--bootstrap", "0", "--flip", "true", "--precision", "32-true",
               "--val-fraction", "0.25", "--test-fraction", "0.25", "--data-dir", str(cache), "--out", str(out),
               "--no-progress", *extra])
    assert rc == 0
    return capsys.readouterr().err


def test_train_says_it_once_and_records_it_and_eval_and_export_of_the_run_do_not_repeat_it(tmp_path, capsys):
    data, cache = _folder(tmp_path / "ct"), tmp_path / "cache"
    err = _train(data, tmp_path / "run", cache, capsys)
    assert sum(SAID in line for line in err.splitlines()) == 1, err
    recorded = json.loads((tmp_path / "run" / "metrics.json").read_text())["data"]["intensity"]
    assert recorded["looks_like_hu"] == 8 and recorded["window"] is None and recorded["by_percentiles"] == 8

    for argv in (["eval", str(tmp_path / "run")], ["export", str(tmp_path / "run"), "--out", str(tmp_path / "m.onnx")]):
        assert main(argv) == 0
        assert SAID not in capsys.readouterr().err, argv

    # a second run on the same data (read from the cache) is told too
    err = _train(data, tmp_path / "run2", cache, capsys)
    assert sum(SAID in line for line in err.splitlines()) == 1, err

    err = _train(data, tmp_path / "windowed", cache, capsys, "--window", "abdomen")
    assert SAID not in err
    recorded = json.loads((tmp_path / "windowed" / "metrics.json").read_text())["data"]["intensity"]
    assert recorded["window"] == [40.0, 400.0] and recorded["windowed"] == 8


def test_looks_like_hounsfield():
    from medtrain.data.intensity import looks_like_hounsfield

    ct = _ct(0, True)
    padded = np.pad(ct, 6, constant_values=-3024)  # outside the scanner's field of view
    assert looks_like_hounsfield(ct) and looks_like_hounsfield(ct.astype(np.int16)) and looks_like_hounsfield(padded)
    assert not looks_like_hounsfield(ct + 1000)  # no air
    assert not looks_like_hounsfield(np.clip(ct, None, 0))  # nothing dense: not a CT of a body
    assert not looks_like_hounsfield(np.full((4, 4, 4), np.nan))
