"""``medtrain predict`` of a CSV of images keeps its patient column (a clinical walk: the predictions named the image
alone, so they could not be joined back to patients nor read per patient): every row carries its image's ID, named
as in the CSV, in CSV, JSON and on standard output; inputs without one keep their columns."""
from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

import medtrain
from conftest import read_rows, run_cli
from medtrain.errors import MedtrainError


@pytest.fixture
def images(trained_run, tmp_path):
    """The run, and its first 5 test images as PNGs ``imgs/00i.png`` with their calibrated probabilities from the
    run's own ``predictions_test.csv`` (row i is test image i)."""
    run, _, arrays = trained_run
    (tmp_path / "imgs").mkdir()
    for i in range(5):
        Image.fromarray(arrays["test_images"][i]).save(tmp_path / "imgs" / f"{i:03d}.png")
    want = {f"{i:03d}.png": [float(r["q0"]), float(r["q1"])]
            for i, r in enumerate(read_rows(run / "predictions_test.csv")[:5])}
    return run, want


#: rows out of the files' order, one missing (skipped), a patient with two images, over batches of 2
LISTED = "path,label,patient_id,note\nimgs/003.png,1,P-3,a\nimgs/000.png,0,P-0,b\nimgs/gone.png,0,P-9,c\n" \
         "imgs/004.png,1,P-4,d\nimgs/001.png,0,P-0,e\n"


def _image(row_input: str) -> str:
    return row_input.replace("\\", "/").rsplit("/", 1)[1]


def test_each_row_carries_its_images_patient_id_in_csv_and_json(images, tmp_path, capsys):
    run, want = images
    (tmp_path / "data.csv").write_text(LISTED)
    for fmt in ("csv", "json"):
        out = tmp_path / f"p.{fmt}"
        code, _, err = run_cli(capsys, "predict", run, tmp_path / "data.csv", "--skip-bad", "--batch-size", "2",
                               *(["--json"] if fmt == "json" else []), "--out", out)
        assert code == 0, err
        if fmt == "csv":
            rows = read_rows(out)
            assert list(rows[0]) == ["input", "patient_id", "prediction", "0", "1"]  # no label, no note
            probs = [[float(r["0"]), float(r["1"])] for r in rows]
        else:
            doc = json.loads(out.read_text())
            rows = doc["predictions"]
            assert list(rows[0]) == ["input", "patient_id", "prediction", "probabilities"]
            assert doc["skipped"][0]["name"].endswith("gone.png")
            probs = [[r["probabilities"]["0"], r["probabilities"]["1"]] for r in rows]
        assert [(_image(r["input"]), r["patient_id"]) for r in rows] == [
            ("003.png", "P-3"), ("000.png", "P-0"), ("004.png", "P-4"), ("001.png", "P-0")]
        # row 3, after the skipped row and across a batch boundary: image 004's own probabilities and patient
        assert rows[2]["patient_id"] == "P-4"
        np.testing.assert_allclose(probs[2], want["004.png"], atol=1e-5)
        np.testing.assert_allclose(probs, [want[_image(r["input"])] for r in rows], atol=1e-5)


def test_standard_output_carries_the_id_and_other_inputs_leave_it_empty(images, tmp_path, capsys):
    run, want = images
    (tmp_path / "data.csv").write_text("path,Subject\nimgs/002.png,S 2\n")
    code, out, err = run_cli(capsys, "predict", run, tmp_path / "data.csv", tmp_path / "imgs" / "000.png",
                             "--out", "-")
    assert code == 0, err
    rows = list(csv.DictReader(out.splitlines()))
    assert [(_image(r["input"]), r["Subject"]) for r in rows] == [("002.png", "S 2"), ("000.png", "")]
    np.testing.assert_allclose([float(rows[0]["0"]), float(rows[0]["1"])], want["002.png"], atol=1e-5)


def test_a_csv_without_a_patient_column_and_a_folder_keep_their_columns(images, tmp_path, capsys):
    run, _ = images
    (tmp_path / "plain.csv").write_text("path,label,note\nimgs/002.png,1,x\n")
    for given in (tmp_path / "plain.csv", tmp_path / "imgs"):
        code, out, err = run_cli(capsys, "predict", run, given, "--out", "-")
        assert code == 0, err
        assert out.splitlines()[0] == "input,prediction,0,1"
    code, out, err = run_cli(capsys, "predict", run, tmp_path / "plain.csv", "--json", "--out", "-")
    assert code == 0, err
    assert list(json.loads(out)["predictions"][0]) == ["input", "prediction", "probabilities"]


def test_the_runs_own_group_column_comes_first_and_a_clash_is_refused(trained_run, tmp_path):
    """A run trained with ``--group-column case`` takes the CSV's ``Case`` (named as written) before ``patient``, as
    ``eval --data`` does; an ID column named as an output column (a class ``0``) is refused before any file."""
    from medtrain.predict import id_columns, iter_inputs, write_predictions

    run, _, arrays = trained_run
    predictor = medtrain.load(run)
    Image.fromarray(arrays["test_images"][0]).save(tmp_path / "a.png")
    (tmp_path / "data.csv").write_text("path,patient,Case\na.png,P1,C1\n")
    assert id_columns([tmp_path / "data.csv"], predictor.run) == ["patient"]
    cased = dataclasses.replace(predictor.run, cfg=dataclasses.replace(predictor.run.cfg, group_column="case"))
    assert id_columns([tmp_path / "data.csv"], cased) == ["Case"]
    assert [item.ids for item in iter_inputs([tmp_path / "data.csv"], cased)] == [(("Case", "C1"),)]
    with pytest.raises(MedtrainError, match="patient column '0' has the name of an output column"):
        write_predictions(predictor, iter_inputs([tmp_path / "data.csv"], cased), tmp_path / "p.csv", ids=["0"])
    assert not (tmp_path / "p.csv").exists()
