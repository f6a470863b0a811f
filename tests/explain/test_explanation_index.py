"""An explanation's folder says which overlay is which input without NumPy: ``explanations.csv``, one row per overlay
(its input, the class explained by its name, p as maps.npz has it, method, layer, peak), written with the overlays
by the same writer; and each overlay's title names its input as the user knows it. The folder had held only the PNGs
and maps.npz, and a .npz row's overlay was titled "3 · gradcam at act · 1 (p = 0.997)": no file, no split, and the
index and a numeric class side by side (walk 'explain', session 33, findings 3 and 4)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import medtrain.reports._plots_saliency as plots_saliency
from conftest import blank_explanation, read_rows, run_cli
from medtrain.errors import MedtrainError
from medtrain.explain import MAPS_FILE
from medtrain.explain.write import INDEX_FILE, check_out, write_explanation
from medtrain.predict_inputs import InputName
from medtrain.rundir import load_config

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def titles(monkeypatch) -> list[str]:
    """The titles of the overlays drawn (a stand-in writes each PNG: the drawing is not what is tested)."""
    seen: list[str] = []

    def overlay(image, saliency, path, title, ras=False):
        seen.append(title)
        Path(path).write_bytes(b"png")

    monkeypatch.setattr(plots_saliency, "saliency_overlay", overlay)
    return seen


def test_the_index_and_the_titles_name_each_input_its_class_p_and_peak(tmp_path, titles):
    res = blank_explanation([InputName("3", "data/vol.npz", "test split, image 3"), "/scans/ward 2/case7.png"])
    res.labels = ["0", "1"]  # numeric class names, as MedMNIST's: beside an index they had read as two numbers
    res.probs = np.array([[0.2, 0.8], [0.9, 0.1]], np.float32)
    res.targets = np.array([1, 0])
    res.maps[0, 1, 2] = 1.0  # the second map is all zeros: no peak
    write_explanation(res, tmp_path / "ex")
    assert titles[0].splitlines()[0] == "vol.npz (test split, image 3)" and "class 1 (p = 0.800)" in titles[0]
    assert titles[1].splitlines()[0] == "case7.png" and "class 0 (p = 0.900)" in titles[1]
    rows = read_rows(tmp_path / "ex" / INDEX_FILE)
    with np.load(tmp_path / "ex" / MAPS_FILE) as z:
        assert [r["overlay"] for r in rows] == list(z["overlays"])
        assert [np.float32(r["probability"]) for r in rows] == list(z["probability"])  # maps.npz's p, to the bit
        assert list(z["inputs"]) == ["3", "/scans/ward 2/case7.png"]  # the names predict writes, unchanged
    assert [(r["input"], r["class"], r["method"], r["layer"]) for r in rows] == [
        ("data/vol.npz (test split, image 3)", "1", "gradcam", "layer4"), ("/scans/ward 2/case7.png", "0", "gradcam",
                                                                           "layer4")]
    assert [(r["peak_y"], r["peak_x"]) for r in rows] == [("1", "2"), ("", "")] and "peak_z" not in rows[0]
    volumes = blank_explanation(["scan.nii.gz"])  # a volume's peak: (z, y, x), as maps.npz's
    volumes.images, volumes.maps = np.zeros((1, 1, 4, 4, 4), np.uint8), np.zeros((1, 4, 4, 4), np.float32)
    volumes.maps[0, 3, 1, 2] = 1.0
    write_explanation(volumes, tmp_path / "vol")
    assert [(r["peak_z"], r["peak_y"], r["peak_x"]) for r in read_rows(tmp_path / "vol" / INDEX_FILE)] == [
        ("3", "1", "2")]


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_users_explanations_csv_is_refused_and_an_earlier_explanations_is_replaced(tmp_path, titles):
    out = tmp_path / "ex"
    out.mkdir()
    (out / INDEX_FILE).write_text("patient,score\n7,0.3\n")
    before = _snapshot(out)
    for refuse in (lambda: check_out(out), lambda: write_explanation(blank_explanation(["a.png"]), out)):
        with pytest.raises(MedtrainError, match=f"{out / INDEX_FILE} is not an explanation's index"):
            refuse()
        assert _snapshot(out) == before  # nothing written, no temporary left beside it
    assert [p.name for p in tmp_path.iterdir()] == ["ex"]
    (out / INDEX_FILE).unlink()
    write_explanation(blank_explanation(["a.png", "b.png", "c.png"]), out)
    write_explanation(blank_explanation(["d.png"]), out)  # the earlier explanation's index is explain's: replaced
    assert [r["overlay"] for r in read_rows(out / INDEX_FILE)] == ["0000_d.png"]
    assert sorted(_snapshot(out)) == ["0000_d.png", INDEX_FILE, MAPS_FILE]


def test_the_index_of_a_npz_from_the_cli_names_its_rows_and_gives_predicts_p(trained_run, tmp_path, capsys):
    run, _, arrays = trained_run
    data = tmp_path / "few.npz"
    np.savez(data, test_images=arrays["test_images"][:2], test_labels=arrays["test_labels"][:2])
    code, _, err = run_cli(capsys, "explain", run, data, "--split", "test", "--out", tmp_path / "ex")
    assert code == 0, err
    code, _, err = run_cli(capsys, "predict", run, data, "--split", "test", "--out", tmp_path / "p.csv")
    assert code == 0, err
    rows, predicted = read_rows(tmp_path / "ex" / INDEX_FILE), read_rows(tmp_path / "p.csv")
    assert [r["input"] for r in rows] == [f"{data} (test split, image {i})" for i in range(2)]
    assert [r["overlay"] for r in rows] == ["0000_0.png", "0001_1.png"]
    # the class explained is the one predict decides, by its name, and p is predict's cell for it, as written there
    assert [r["class"] for r in rows] == [p["prediction"] for p in predicted]
    assert [r["probability"] for r in rows] == [p[r["class"]] for r, p in zip(rows, predicted)]


def test_the_runs_own_split_is_named_by_its_file_and_all_skipped_inputs_say_why(trained_run, tmp_path, capsys):
    run, _, _ = trained_run
    data = load_config(run).data
    code, _, err = run_cli(capsys, "explain", run, "--limit", "2", "--out", tmp_path / "own")
    assert code == 0, err
    rows = read_rows(tmp_path / "own" / INDEX_FILE)  # the run's own test split: it had been "0", "1"
    assert [r["input"] for r in rows] == [f"{data} (test split, image {i})" for i in range(2)]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    code, _, err = run_cli(capsys, "explain", run, bad, "--skip-bad", "--out", tmp_path / "none")
    # every input skipped: the reason is in the one line (the list of the skipped had never been printed)
    assert code == 2 and err.count("\n") == 1 and f"all 1 skipped; the first: {bad}: " in err, err
