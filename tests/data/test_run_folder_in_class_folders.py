"""A medtrain run folder inside a folder of class folders (a run trained into the data by an older medtrain) is
refused in one line before any image is read: its plots had become a class of their own, every grey image read as
RGB beside them (walk 'audit', session 33), or images of the class whose folder held the run."""
from __future__ import annotations

import pytest

from conftest import make_images, png_csv, run_cli


@pytest.mark.parametrize("where, said", [("run2", "is a medtrain run folder"),
                                          ("benign/run", "holds the medtrain run folder")])
def test_a_run_folder_among_the_class_folders_is_refused(tmp_path, capsys, where, said):
    images, labels = make_images(16)
    root = png_csv(tmp_path / "png", images, labels, ("benign", "malignant"), path="{label}/{i}.png", name=None)
    run = root / where
    run.mkdir()
    (run / "config.yaml").write_text("model: resnet18_28_half\n")
    (run / "metrics.json").write_text("{}")
    (run / "roc_pr.png").write_bytes((root / "benign" / next(p.name for p in (root / "benign").glob("*.png")))
                                     .read_bytes())
    code, stdout, err = run_cli(capsys, "train", "--data", root, "--epochs", "1", "--out", tmp_path / "r")
    assert code == 2 and err.count("\n") == 1 and said in err and "move the run out of the data folder" in err, err
    assert not (tmp_path / "r").exists()
