"""`medtrain tune` reports the best trial's test intervals as they were made (Newcombe's, Wilson's), not as
bootstrap ones."""
from __future__ import annotations

import json

import numpy as np

from conftest import make_images
from medtrain.cli import main


def test_the_best_trials_newcombe_interval_is_named_in_its_line_and_best_json(tmp_path, capsys):
    # a test split of 12 positives: AUC's interval is Newcombe's (fewer than 30 of a class); tune had copied only
    # the intervals into its record, and printed them as "(95% bootstrap CIs)"
    arrays = {}
    for split, n, seed in (("train", 64, 0), ("val", 24, 1)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, seed=seed)
    images, labels = make_images(120, seed=2)
    keep = np.r_[np.flatnonzero(labels[:, 0] == 1)[:12], np.flatnonzero(labels[:, 0] == 0)[:40]]
    arrays["test_images"], arrays["test_labels"] = images[keep], labels[keep]
    np.savez(tmp_path / "few.npz", **arrays)
    out = tmp_path / "tune"
    args = ["tune", "--data", str(tmp_path / "few.npz"), "--model", "resnet10_28_half", "--epochs", "1",
            "--batch-size", "32", "--schedule", "none", "--accelerator", "cpu", "--bootstrap", "20", "--tta", "none",
            "--flip", "false", "--class-weights", "false", "--logger", "none", "--no-progress", "--trials", "1",
            "--out", str(out)]
    assert main(args) == 0, capsys.readouterr().err
    best_line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("tune: best trial"))
    assert "AUC's is Newcombe's score interval" in best_line
    test = json.loads((out / "best.json").read_text())["test"]
    assert test["auc_ci_method"] == "newcombe" and test["auc_ci_reason"]
