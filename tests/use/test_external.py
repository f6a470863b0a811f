"""``medtrain eval RUN --data EXTERNAL``: a run scored on labelled data it never saw, with its frozen TTA,
temperature and threshold; the run's own test images given as external data score exactly as its test split."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from conftest import png_csv, run_cli
from medtrain.external import external_file, external_predictions_file


def _pngs(root, arrays, name=None):
    """The run's test images as PNGs: in class folders, or with ``name``, in imgs/ listed in the CSV ``name`` with a
    patient column (four images a patient)."""
    return png_csv(root, arrays["test_images"], arrays["test_labels"],
                   path="imgs/{i:03d}.png" if name else "{label}/{i:03d}.png",
                   columns={"patient": [f"patient{i // 4}" for i in range(len(arrays["test_images"]))]}, name=name)


def test_the_run_s_own_test_images_as_external_data_score_as_its_test_split(trained_run, tmp_path, capsys):
    run, data, arrays = trained_run
    test = json.loads((run / "metrics.json").read_text())["test"]
    code, out, err = run_cli(capsys, "eval", run, "--data", data)  # the .npz's test split, all of it external
    assert code == 0, err
    got = json.loads((run / external_file(data)).read_text())
    assert (got["auc"], got["acc"], got["n"]) == (pytest.approx(test["auc"], abs=1e-9),
                                                  pytest.approx(test["acc"], abs=1e-9), 40)
    assert got["calibration"]["temperature"] == pytest.approx(json.loads((run / "metrics.json").read_text())
                                                              ["calibration"]["temperature"])
    assert "(40 inputs)" in out and external_file(data) in out

    _pngs(tmp_path / "by_class", arrays)  # a folder of class sub-folders: the same images
    assert run_cli(capsys, "eval", run, "--data", tmp_path / "by_class")[0] == 0
    folder = json.loads((run / external_file(tmp_path / "by_class")).read_text())
    assert folder["auc"] == pytest.approx(test["auc"], abs=1e-9) and folder["acc"] == pytest.approx(test["acc"])

    listed = _pngs(tmp_path / "csv", arrays, "ext.csv")  # a CSV naming patients: intervals over patients
    assert run_cli(capsys, "eval", run, "--data", listed)[0] == 0
    ext = json.loads((run / external_file(listed)).read_text())
    assert ext["auc"] == pytest.approx(test["auc"], abs=1e-9) and ext["patients"] == 10


def test_external_labels_that_are_no_class_of_the_run_are_one_line(trained_run, tmp_path, capsys):
    run, _, arrays = trained_run
    Image.fromarray(arrays["test_images"][0]).save(tmp_path / "a.png")
    (tmp_path / "unknown.csv").write_text("path,label\na.png,benign\n")
    code, _, err = run_cli(capsys, "eval", run, "--data", tmp_path / "unknown.csv")
    assert code == 2 and len(err.splitlines()) == 1 and "label(s) 'benign' are not classes of" in err
    assert not (run / external_file(tmp_path / "unknown.csv")).exists()


def test_external_data_get_per_image_predictions_as_the_run_s_own_test_split(trained_run, tmp_path, capsys):
    """A reader of an external evaluation reviews its errors image by image: predictions_external_<name>.csv holds
    what predictions_test.csv holds for the run's own test images, and the same images give the same rows."""
    from conftest import read_rows

    run, data, arrays = trained_run
    _pngs(tmp_path / "ext_rows", arrays)
    code, out, err = run_cli(capsys, "eval", run, "--data", tmp_path / "ext_rows")
    assert code == 0, err
    rows = read_rows(run / external_predictions_file(tmp_path / "ext_rows"))
    own = {r["index"]: r for r in read_rows(run / "predictions_test.csv")}
    got = json.loads((run / external_file(tmp_path / "ext_rows")).read_text())
    assert len(rows) == got["n"] == 40 and external_predictions_file(tmp_path / "ext_rows") in out
    assert sum(r["correct"] == "true" for r in rows) == round(got["acc"] * 40)
    for r in rows:  # .../<label>/<index>.png: the same image as row <index> of the run's own test split
        i = str(int(r["input"].rsplit("/", 1)[1][:-4]))
        assert r["true_label"] == own[i]["true_label"] and r["prediction"] == own[i]["prediction"]
        assert float(r["p1"]) == pytest.approx(float(own[i]["p1"]), abs=1e-6)


def test_skip_bad_scores_the_readable_external_inputs_and_lists_the_rest(trained_run, tmp_path, capsys):
    """External data often hold a broken or missing file: without --skip-bad it is one error line, with it the
    rest are scored, as predict and training skip them, and the JSON lists what was left out and why."""
    run, _, arrays = trained_run
    listed = _pngs(tmp_path / "skip", arrays, "ext_skip.csv")
    (tmp_path / "skip" / "imgs" / "broken.png").write_bytes(b"not a png")
    listed.write_text(listed.read_text() + "imgs/broken.png,0,patient99\nimgs/gone.png,1,patient98\n")
    code, _, err = run_cli(capsys, "eval", run, "--data", tmp_path / "skip" / "ext_skip.csv")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert not (run / external_file(listed)).exists()
    code, out, err = run_cli(capsys, "eval", run, "--data", tmp_path / "skip" / "ext_skip.csv", "--skip-bad")
    assert code == 0, err
    got = json.loads((run / external_file(listed)).read_text())
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert got["n"] == 40 and got["auc"] == pytest.approx(test["auc"], abs=1e-9)  # the 40 readable ones
    assert sorted(s["input"].rsplit("/", 1)[1] for s in got["skipped"]) == ["broken.png", "gone.png"]
    assert "2 input(s) skipped (--skip-bad)" in out
    code, _, err = run_cli(capsys, "eval", run, "--skip-bad")
    assert code == 2 and "--skip-bad applies to --data" in err


def test_external_data_that_is_a_fifo_or_no_npz_with_a_split_is_said_so(trained_run, tmp_path, capsys):
    import os

    from conftest import no_hang

    run, _, arrays = trained_run
    os.mkfifo(tmp_path / "ff.npz")
    with no_hang():
        code, _, err = run_cli(capsys, "eval", run, "--data", tmp_path / "ff.npz")
    assert code == 2 and "not a regular file" in err
    _pngs(tmp_path / "folder_split", arrays)
    code, _, err = run_cli(capsys, "eval", run, "--data", tmp_path / "folder_split", "--split", "val")
    assert code == 2 and "--split val chooses a split of an .npz" in err


def test_the_rows_of_an_external_npz_are_named_with_their_split(trained_run, capsys):
    """An .npz's rows had been named 0, 1, ... in predictions_external_*.csv, whichever split was scored; they
    are named as splits.csv names them (val/0, ...)."""
    from conftest import read_rows

    run, data, _ = trained_run
    assert run_cli(capsys, "eval", run, "--data", data, "--split", "val")[0] == 0
    rows = read_rows(run / external_predictions_file(data, "val"))
    assert [r["input"] for r in rows] == [f"val/{i}" for i in range(16)]


# --------------------------------------------------------------------------- multi-label runs


@pytest.fixture(scope="module")
def multilabel_run(tmp_path_factory):
    """A finished 1-epoch multi-label run (two labels: a bright square in the top half, one in the bottom half of
    16x16 grey images), trained from a MedMNIST-layout .npz with (N, 2) 0/1 labels, bootstrap intervals on."""
    import numpy as np

    import medtrain
    from conftest import fast_config, make_two_findings

    root = tmp_path_factory.mktemp("ml_ext")
    arrays = make_two_findings()
    data = root / "ml.npz"
    np.savez(data, **arrays)
    run = root / "run"
    m = medtrain.train(fast_config(data, run, epochs=1, bootstrap=50), verbose=False)
    assert m["task"] == "multi-label, binary-class"
    return run, data, arrays


def test_a_multilabel_run_s_own_test_split_as_an_external_npz_scores_as_its_test_split(multilabel_run, tmp_path,
                                                                                       capsys):
    """A multi-label run is evaluable on external data: an .npz whose test_labels hold one 0/1 column per label.
    Given the run's own test split, it scores exactly as ``medtrain eval RUN`` scores that split (AUC, ACC, their
    bootstrap intervals, calibration, per-label confusion), and its per-image rows are predictions_test.csv's."""
    import numpy as np

    from conftest import read_rows

    run, _, arrays = multilabel_run
    ext = tmp_path / "mlcopy.npz"
    np.savez(ext, test_images=arrays["test_images"], test_labels=arrays["test_labels"])
    code, out, err = run_cli(capsys, "eval", run)
    assert code == 0, err
    own = json.loads((run / "eval_test.json").read_text())
    code, out, err = run_cli(capsys, "eval", run, "--data", ext)
    assert code == 0, err
    got = json.loads((run / external_file(ext)).read_text())
    assert got["n"] == 32 and "(32 inputs)" in out and external_predictions_file(ext) in out
    assert own["auc_ci"] and own["acc_ci"] and len(own["confusion"]) == 2  # intervals drawn, one matrix per label
    # every figure of eval_test.json, exactly: AUC, ACC, their intervals, per label, calibration, operating point
    assert {k: v for k, v in got.items() if k not in ("data", "data_split", "seen_in_run")} == \
        {k: v for k, v in own.items() if k != "data_checked_by"}
    assert got["seen_in_run"] == {"train": 0, "val": 0, "any": 0}

    # per image, what predictions_test.csv holds (written by training: its scores agree to float32 noise)
    rows, mine = read_rows(run / external_predictions_file(ext)), read_rows(run / "predictions_test.csv")
    assert list(rows[0]) == list(mine[0]) and len(rows) == len(mine) == 32  # the same columns, the same images
    for r, o in zip(rows, mine):
        assert r["input"] == f"test/{o['input']}"  # named as splits.csv names them
        for k in set(o) - {"input"}:
            probability = k[0] in "pq" and k[1:].isdigit() or k in ("0", "1")  # p0.., q0.., one column per label
            assert (float(r[k]) == pytest.approx(float(o[k]), abs=1e-6)) if probability else r[k] == o[k], k
    assert {r["true_label"] for r in rows} >= {"0", "1", "0;1"}  # both labels, alone and together


def test_a_multilabel_external_npz_keeps_skip_bad_and_names_training_copies(multilabel_run, capsys):
    """--skip-bad is taken (nothing to skip in an .npz of good images) and the run's own training images given as
    external data are named as not external, as for a single-label run."""
    run, data, _ = multilabel_run
    code, out, err = run_cli(capsys, "eval", run, "--data", data, "--split", "train", "--skip-bad")
    assert code == 0, err
    got = json.loads((run / external_file(data, "train")).read_text())
    assert got["n"] == 64 and got["skipped"] == []
    assert got["seen_in_run"] == {"train": 64, "val": 0, "any": 64} and "they are not external data" in err


def test_external_data_for_a_multilabel_run_other_than_a_0_1_npz_per_label_are_one_line(multilabel_run, tmp_path,
                                                                                        capsys):
    import numpy as np

    run, _, arrays = multilabel_run
    images, labels = arrays["test_images"], arrays["test_labels"]
    bad = {"three.npz": np.concatenate([labels, labels[:, :1]], axis=1),  # a third label the run does not have
           "flat.npz": labels[:, 0],  # one label per image
           "counts.npz": labels * 2}  # not 0/1
    said = {"three.npz": "has shape (32, 3), but the run has 2 labels", "flat.npz": "has shape (32,), but the run",
            "counts.npz": "must be 0/1 (one column per label)"}
    for name, lab in bad.items():
        np.savez(tmp_path / name, test_images=images, test_labels=lab)
        code, _, err = run_cli(capsys, "eval", run, "--data", tmp_path / name)
        assert code == 2 and len(err.strip().splitlines()) == 1 and said[name] in err, err
        assert not (run / external_file(tmp_path / name)).exists()

    # a folder of class sub-folders holds one class per image: refused (a multi-label CSV is read since 2b0ff01,
    # tests/data/test_multilabel_external.py)
    (tmp_path / "folder" / "0").mkdir(parents=True)
    Image.fromarray(images[0]).save(tmp_path / "folder" / "0" / "a.png")
    code, _, err = run_cli(capsys, "eval", run, "--data", tmp_path / "folder")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "not a folder" in err


def test_external_inputs_of_another_aspect_ratio_are_said_in_one_line(trained_run, tmp_path, capsys):
    """eval --data had printed one 'squashed' warning per image (16 lines for 40 inputs); predict says it once."""
    import csv

    import numpy as np

    run, _, arrays = trained_run
    rows = []
    for i in range(6):
        p = tmp_path / f"wide{i}.png"
        Image.fromarray(np.tile(arrays["test_images"][i], (1, 2))).save(p)  # 16x32: another aspect ratio
        rows.append({"path": p.name, "label": str(int(arrays["test_labels"][i, 0]))})
    with open(tmp_path / "ext.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "label"])
        w.writeheader()
        w.writerows(rows)
    code, out, err = run_cli(capsys, "eval", run, "--data", tmp_path / "ext.csv")
    assert code == 0, err
    assert "6 input(s) of another aspect ratio were squashed" in err
    assert err.count("squashed") == 2  # the count and the first one's name, on one line
