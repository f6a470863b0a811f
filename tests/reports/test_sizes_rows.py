"""Runs whose images are not MedMNIST's 28 px: the published rows say what they were trained on, and the report
shows the settings the run read (a user walkthrough with 64- to 512-px images)."""
from __future__ import annotations

import re

from medtrain.reports.html import run_report
from medtrain.reports.summary import run_summary


def _metrics(shape, dataset="breastmnist") -> dict:
    data = {"source": f"{dataset}_{shape[-1]}.npz", "task": "binary-class", "shape": list(shape),
            "classes": ["malignant", "normal, benign"],
            "splits": [{"name": s, "n": n, "counts": [n // 4, n - n // 4]} for s, n in (("train", 120), ("val", 30),
                                                                                      ("test", 40))]}
    return {"dataset": dataset, "model": "resnet10_28_half", "seed": 0, "task": "binary-class", "best_epoch": 0,
            "stop_epoch": 0, "train_images_per_s": 2.4, "wall_s": 164.0, "monitor": "val_auc",
            "val": {"auc": 0.61, "acc": 0.7},
            "test": {"auc": 0.6312, "acc": 0.675, "auc_ci": [0.45, 0.8], "acc_ci": [0.55, 0.8], "n": 40},
            "calibration": {"temperature": 1.2, "test": {"ece": 0.1, "ece_scaled": 0.08}}, "data": data}


def _table(text: str) -> list[str]:
    """The published-rows block of a printed summary: its table and the line under it."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| model ("))
    return lines[start:]


def test_a_224_px_run_is_told_the_published_rows_were_trained_on_28_px_images():
    block = _table(run_summary(_metrics([1, 224, 224]), "breastmnist", "val_auc"))
    assert any(r.startswith("| ResNet-18 (224) (MedMNIST v2) | 0.891") for r in block)  # the rows stay
    under = block[-1]  # one line under the rows, saying which size they are of, beside this run's
    assert not under.startswith("|")
    assert "28-px" in under and "224-px" in under and "upsampled" in under
    assert "MedMNIST+" in under


def test_a_64_px_run_names_its_own_size_and_a_28_px_run_prints_no_such_line():
    under = _table(run_summary(_metrics([3, 64, 64]), "breastmnist", "val_auc"))[-1]
    assert "28-px" in under and "64-px" in under
    block = _table(run_summary(_metrics([1, 28, 28]), "breastmnist", "val_auc"))
    assert block[-1].startswith("| ") and not any("28-px" in r for r in block)


def test_a_64_voxel_volume_run_is_told_the_3d_rows_are_of_28_voxel_volumes():
    under = _table(run_summary(_metrics([1, 64, 64, 64], "vesselmnist3d"), "vesselmnist3d", "val_auc"))[-1]
    assert "28\u00b3" in under and "64\u00b3" in under and "upsampled" not in under


def test_the_html_report_says_so_under_its_published_baselines():
    def note(shape):
        html = run_report({"dataset": "breastmnist", "size": shape[-1]}, _metrics(shape), {})
        section = html.split("Published baselines", 1)[1].split("<h2>", 1)[0]
        return re.findall(r'<p class="sub warn">([^<]*)</p>', section)

    said = note([1, 224, 224])
    assert len(said) == 1 and "28-px" in said[0] and "224-px" in said[0]
    assert note([1, 28, 28]) == []


# --------------------------------------------------------------------------- predict's note on squashed inputs


def _squash_line(tmp_path, capsys, run_kw: dict, with_run: bool = True) -> str:
    """The note predict prints for one 24x16 picture given to a 16x16 model trained as ``run_kw`` says."""
    import numpy as np
    from PIL import Image

    from medtrain.cli.predict import squash_note
    from medtrain.predictor import Predictor
    from medtrain.runmodel import untrained_run_model

    Image.fromarray(np.zeros((16, 24), np.uint8)).save(tmp_path / "wide.png")
    run = untrained_run_model("resnet10_28_half", input_size=16, **run_kw)
    capsys.readouterr()
    with squash_note(run if with_run else None):
        Predictor(run).predict([tmp_path / "wide.png"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1 input(s) of another aspect ratio were squashed" in err
    return err


def test_the_squash_note_of_a_run_on_native_squares_does_not_say_training_resized(tmp_path, capsys):
    # a run on native 224-px squares (a folder without --image-size, a MedMNIST --size) had been told its
    # inputs were squashed "as training resizes its images": its own images were never resized
    for kw in ({"data": str(tmp_path / "imgs")}, {"dataset": "breastmnist", "size": 224}):
        err = _squash_line(tmp_path, capsys, kw)
        assert "as training resize" not in err and "16x16 square" in err
        assert "the run's own images were not resized" in err


def test_the_squash_note_of_an_image_size_run_names_the_resizing_and_without_a_run_claims_nothing(tmp_path, capsys):
    err = _squash_line(tmp_path, capsys, {"data": str(tmp_path / "imgs"), "image_size": 16})
    assert "as training resized its images (--image-size 16)" in err
    err = _squash_line(tmp_path, capsys, {"data": str(tmp_path / "imgs")}, with_run=False)  # explain, eval
    assert "training" not in err and "24x16 squashed to 16x16" in err


# --------------------------------------------------------------------------- the configuration table


def _settings_shown(html: str) -> dict:
    """The configuration table's ``key = value`` entries."""
    section = html.split("<h2>Configuration</h2>", 1)[1]
    return dict(re.findall(r"<div>(\S+) <span>=</span> ([^<]*?)</div>", section))


def test_the_configuration_table_of_a_folder_run_does_not_show_the_unread_medmnist_size(tmp_path):
    # a 224-px folder run's report had shown "size = 28": the MedMNIST release setting, not read for --data
    from medtrain.reports.html import write_crossval_report

    folder = {"dataset": None, "data": "/data/derm224", "size": 28, "image_size": None, "model": "resnet18_28_half"}
    shown = _settings_shown(run_report(folder, _metrics([3, 224, 224], "derm224"), {}))
    assert "size" not in shown and shown["data"] == "/data/derm224" and shown["image_size"] == "–"
    medmnist = {"dataset": "breastmnist", "data": None, "size": 224, "model": "resnet10_28_half"}
    assert _settings_shown(run_report(medmnist, _metrics([1, 224, 224]), {}))["size"] == "224"
    folds = [{"fold": i, "auc": 0.8 + 0.01 * i, "acc": 0.7} for i in range(3)]
    page = write_crossval_report(tmp_path, {"folds": folds, "pooled": {"auc": 0.81}, "config": folder})
    assert "size" not in _settings_shown(page.read_text())


def test_the_configuration_tables_leave_out_the_fractions_of_split_data_and_volume_size_of_2d_images(tmp_path):
    """What these data did not read is not shown as if it had been, in a run's report and in a cross-validation's:
    an .npz's own split ignores val/test fractions (the fold page had listed "val_fraction = 0.1"), and 2D images
    ignore volume_size; a folder's fractions and a volume run's volume_size stay."""
    from medtrain.reports.html import write_crossval_report

    npz = {"dataset": None, "data": "/d/own.npz", "val_fraction": 0.1, "test_fraction": 0.2, "volume_size": 28,
           "folds": 3}
    shown = _settings_shown(run_report(npz, _metrics([1, 28, 28], "own"), {}))
    assert not {"val_fraction", "test_fraction", "volume_size"} & set(shown) and shown["data"] == "/d/own.npz"
    folds = [{"fold": i, "auc": 0.8 + 0.01 * i, "acc": 0.7} for i in range(3)]
    page = write_crossval_report(tmp_path, {"folds": folds, "pooled": {"auc": 0.81}, "config": npz})
    assert not {"val_fraction", "test_fraction"} & set(_settings_shown(page.read_text()))
    folder = {**npz, "data": "/d/imgs"}
    assert {"val_fraction", "test_fraction"} <= set(_settings_shown(run_report(folder, _metrics([1, 28, 28]), {})))
    assert _settings_shown(run_report(folder, _metrics([1, 28, 28, 28]), {}))["volume_size"] == "28"
