"""A multi-label run scored on external data given as a CSV (``medtrain eval RUN --data other.csv``), read by the one
CSV reader in either multi-label form (labels joined in a cell, or one 0/1 column per label), its labels matched to
the run's by name: the scores and per-image predictions are those of the same images and labels given as an .npz
in the run's label order, whatever order the CSV's columns or cells hold; a CSV whose labels are not the run's is
one line naming them. It had been refused: a multi-label run took only an .npz. And a multi-label CSV of DICOM/NIfTI
entries is refused by their loader itself (``load_volume_folder``), not only through ``load_splits``: called
directly it had made one class of each combination of labels."""
from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import read_rows, run_cli
from medtrain.cli import main
from medtrain.errors import MedtrainError
from medtrain.external import external_file, external_predictions_file

NAMES = ["Atelectasis", "Cardiomegaly", "Effusion", "Nodule"]  # sorted: the run's label order
RATES = [0.45, 0.35, 0.25, 0.15]


def _matrix(n: int, seed: int) -> np.ndarray:
    y = (np.random.default_rng(seed).random((n, len(NAMES))) < RATES).astype(np.int64)
    y[:3] = 0  # images with no finding
    y[3:6] = 1  # and with every one, so that each label has positives and negatives in a small set
    return y


def _pngs(root: Path, y: np.ndarray, seed: int, size: int = 16) -> tuple[list[str], np.ndarray]:
    """Learnable grey PNGs (each finding a bright square at its own place), their paths and pixels."""
    rng = np.random.default_rng(seed)
    (root / "img").mkdir(parents=True, exist_ok=True)
    paths, arrays = [], []
    for i, row in enumerate(y):
        a = rng.integers(0, 60, (size, size)).astype(np.uint8)
        for j in np.flatnonzero(row):
            r, c = (j // 2) * (size // 2) + 1, (j % 2) * (size // 2) + 1
            a[r:r + size // 2 - 2, c:c + size // 2 - 2] = 230
        Image.fromarray(a).save(root / "img" / f"{i}.png")
        paths.append(f"img/{i}.png")
        arrays.append(a)
    return paths, np.stack(arrays)


def _joined_csv(path: Path, paths: list[str], y: np.ndarray, names: list[str] = NAMES, sep: str = "|") -> Path:
    """Each row's labels joined by ``sep``, in a shuffled order."""
    rng = np.random.default_rng(3)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label"])
        for p, row in zip(paths, y):
            w.writerow([p, sep.join(names[j] for j in rng.permutation(np.flatnonzero(row)))])
    return path


def _columns_csv(path: Path, paths: list[str], y: np.ndarray, names: list[str]) -> Path:
    """One 0/1 column per label of ``names`` (NAMES, reordered or not), in that order."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", *names])
        for p, row in zip(paths, y):
            w.writerow([p, *(int(row[NAMES.index(n)]) if n in NAMES else 0 for n in names)])
    return path


@pytest.fixture(scope="module")
def ml_run(tmp_path_factory):
    """A 1-epoch multi-label run from a CSV (as tests/data/test_multilabel_csv.py trains its CLI run), and an
    external set of 40 other images: their folder, paths, labels (run's order) and the same as an .npz."""
    root = tmp_path_factory.mktemp("ml_external")
    y = _matrix(120, 0)
    paths, _ = _pngs(root / "train", y, seed=1)
    data, run = _joined_csv(root / "train" / "labels.csv", paths, y), root / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main([str(a) for a in ("train", "--data", data, "--model", "resnet10_28_half", "--epochs", 1,
                                      "--out", run, "--flip", "true", "--precision", "32-true", "--accelerator",
                                      "cpu", "--bootstrap", 0, "--no-progress")])
    assert code == 0
    ext = root / "ext"
    held = _matrix(40, 7)
    held_paths, pixels = _pngs(ext, held, seed=11)
    np.savez(ext / "same.npz", test_images=pixels, test_labels=held)
    return run, ext, held_paths, held


def _probabilities(path: Path) -> np.ndarray:
    return np.array([[float(r[n]) for n in NAMES] for r in read_rows(path)])


def test_a_csv_in_either_form_scores_as_the_same_npz_whatever_its_label_order(ml_run, capsys):
    run, ext, paths, y = ml_run
    code, _, err = run_cli(capsys, "eval", run, "--data", ext / "same.npz")
    assert code == 0, err
    want = json.loads((run / external_file(ext / "same.npz")).read_text())
    probs = _probabilities(run / external_predictions_file(ext / "same.npz"))
    assert 0.0 < want["auc"] < 1.0 and "auc_undefined" not in want
    for csv_file in (_columns_csv(ext / "columns.csv", paths, y, NAMES[::-1]),  # columns in reverse order
                     _joined_csv(ext / "joined.csv", paths, y, sep=";")):  # each cell's labels shuffled
        code, _, err = run_cli(capsys, "eval", run, "--data", csv_file)
        assert code == 0, err
        got = json.loads((run / external_file(csv_file)).read_text())
        assert got["n"] == 40 and got["auc"] == pytest.approx(want["auc"], abs=1e-9), csv_file.name
        assert got["acc"] == pytest.approx(want["acc"], abs=1e-9)
        assert list(got["per_class"]) == NAMES
        for name in NAMES:
            assert got["per_class"][name]["auc"] == pytest.approx(want["per_class"][name]["auc"], abs=1e-9), name
        assert np.allclose(_probabilities(run / external_predictions_file(csv_file)), probs, atol=1e-6)


def test_a_label_no_joined_cell_names_is_a_label_never_positive(ml_run, capsys):
    """Joined cells name only the labels an image holds: a set with no Nodule is scored, Nodule's AUC undefined."""
    run, ext, paths, y = ml_run
    y = y.copy()
    y[:, NAMES.index("Nodule")] = 0
    code, _, err = run_cli(capsys, "eval", run, "--data", no_nodule := _joined_csv(ext / "no_nodule.csv", paths, y))
    assert code == 0, err
    got = json.loads((run / external_file(no_nodule)).read_text())
    assert got["n"] == 40 and "Nodule" in json.dumps(got["auc_undefined"])


@pytest.mark.parametrize("form, says", [
    ("missing", "no column for label 'Effusion'"),
    ("extra", "label 'Pneumonia' is not one of the run's"),
    ("joined", "label 'Pneumonia' is not one of the run's"),
])
def test_a_csv_whose_labels_are_not_the_runs_is_one_line_naming_them(ml_run, capsys, form, says):
    run, ext, paths, y = ml_run
    bad = ext / f"bad_{form}.csv"
    if form == "joined":
        _joined_csv(bad, paths, np.hstack([y, np.eye(len(y), 1, -5, np.int64)]), NAMES + ["Pneumonia"])
    else:
        names = [n for n in NAMES if n != "Effusion"] if form == "missing" else NAMES + ["Pneumonia"]
        _columns_csv(bad, paths, y, names)
    code, out, err = run_cli(capsys, "eval", run, "--data", bad)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and says in lines[0], err
    assert ", ".join(NAMES) in lines[0]  # the run's labels, to match
    assert not (run / external_file(bad)).exists()


def test_a_multilabel_csv_of_volumes_is_refused_by_their_loader_itself(tmp_path):
    import nibabel as nib

    from medtrain.data.volumes import load_volume_folder

    rows = ["path,label"]
    for i, cell in enumerate(["A|B", "B", "A", "", "A|B", "B"] * 7):
        nib.save(nib.Nifti1Image(np.random.default_rng(i).random((4, 4, 4), np.float32) * 400 - 200, np.eye(4)),
                 str(tmp_path / f"v{i}.nii.gz"))
        rows.append(f"v{i}.nii.gz,{cell}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(MedtrainError) as e:  # had loaded 4 classes: '', 'A', 'A;B', 'B'
        load_volume_folder(tmp_path, size=4, cache_dir=tmp_path / "cache")
    msg = str(e.value)
    assert "multi-label rows" in msg and "DICOM/NIfTI" in msg and "\n" not in msg


def test_a_label_column_in_another_unicode_form_is_the_run_s_label_and_one_in_another_case_is_said(tmp_path):
    # macOS and Excel may write 'Cardiomégalie' decomposed: refused as "not one of the run's (Cardiomégalie, ...)"
    import unicodedata
    from types import SimpleNamespace

    from medtrain.data.table import read_label_csv
    from medtrain.external import _csv_label_rows

    run = SimpleNamespace(label_names=["Cardiomégalie", "Nodule"])  # the run's order
    nfd = unicodedata.normalize("NFD", "Cardiomégalie")
    assert nfd != "Cardiomégalie"
    (tmp_path / "a.csv").write_text(f"path,Nodule,{nfd}\na.png,1,0\nb.png,0,1\nc.png,1,1\n", encoding="utf-8")
    assert _csv_label_rows(read_label_csv(tmp_path / "a.csv", multilabel=True), run) == [(0, 1), (1, 0), (1, 1)]
    (tmp_path / "b.csv").write_text("path,nodule,Cardiomégalie\na.png,1,0\nb.png,0,1\n", encoding="utf-8")
    with pytest.raises(MedtrainError, match=r"'nodule' is the run's 'Nodule' in another case"):
        _csv_label_rows(read_label_csv(tmp_path / "b.csv", multilabel=True), run)
