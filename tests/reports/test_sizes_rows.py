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
