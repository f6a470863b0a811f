"""A run records what it was made with (``provenance`` in ``metrics.json``), and ``medtrain eval`` refuses to score
data that changed since the run was trained, instead of printing other numbers under the run's name."""
from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import medtrain
from conftest import fast_config, make_images
from medtrain.cli import main
from medtrain.data import Split, load_splits
from medtrain.models.weights import read_meta
from medtrain.provenance import split_digest
from medtrain.rundir import load_config


def _npz(path, flip_test_label: bool = False, brighten_train: bool = False):
    arrays = {}
    for split, n, seed in (("train", 48, 0), ("val", 16, 1), ("test", 24, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, seed=seed)
    if flip_test_label:
        arrays["test_labels"][0] = 1 - arrays["test_labels"][0]
    if brighten_train:
        arrays["train_images"][0] = 255 - arrays["train_images"][0]
    np.savez(path, **arrays)
    return path


def test_a_split_digest_changes_with_one_pixel_or_label_and_only_then():
    images, labels = torch.zeros(5, 1, 8, 8, dtype=torch.uint8), torch.tensor([0, 1, 0, 1, 1])
    same = split_digest(Split(images.clone(), labels.clone()))
    assert split_digest(Split(images, labels)) == same
    pixel = images.clone()
    pixel[3, 0, 7, 7] = 1
    assert split_digest(Split(pixel, labels)) != same
    assert split_digest(Split(images, torch.tensor([0, 1, 0, 1, 0]))) != same
    assert split_digest(Split(images[:4], labels[:4])) != same


@pytest.mark.usefixtures("one_thread")
def test_a_run_records_its_versions_threads_and_data_and_eval_refuses_changed_test_data(tmp_path, capsys):
    data = _npz(tmp_path / "d.npz")
    run = tmp_path / "run"
    m = medtrain.train(fast_config(data, run, epochs=1, bootstrap=0), verbose=False)
    prov = m["provenance"]
    assert prov["torch"] == importlib.metadata.version("torch") and prov["medtrain"] == medtrain.__version__
    assert prov["lightning"] == importlib.metadata.version("lightning")
    assert prov["torch_threads"] == torch.get_num_threads() == 1
    checkout = Path(medtrain.__file__).resolve().parent.parent
    if (checkout / ".git").exists():  # an editable install: the code's commit, its version number unchanged
        head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True)
        assert prov["medtrain_git"]["commit"] == head.stdout.strip()
    assert read_meta(run / "model.safetensors")["medtrain_version"] == medtrain.__version__
    splits = load_splits(load_config(run))  # the data read again: the digests are of the pixels and labels
    assert prov["data_sha256"] == {s: split_digest(splits.split(s)) for s in ("train", "val", "test")}
    assert len(set(prov["data_sha256"].values())) == 3

    assert main(["eval", str(run)]) == 0  # the data as trained: eval reproduces the run, and says where it wrote
    assert f"written to {run / 'eval_test.json'}" in capsys.readouterr().out
    _npz(data, brighten_train=True)  # a training image changed: the test split is still the run's
    assert main(["eval", str(run)]) == 0
    capsys.readouterr()
    before = (run / "eval_test.json").read_bytes()
    _npz(data, flip_test_label=True)  # one test label edited
    assert main(["eval", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("medtrain: error: the test split of") and "changed since" in err and len(err.splitlines()) == 1
    assert (run / "eval_test.json").read_bytes() == before  # nothing rewritten


def test_a_run_of_an_older_medtrain_without_digests_is_checked_by_its_labels_and_says_so(tmp_path, capsys):
    """An upgraded medtrain had scored changed data under an old run's name without a word (a walkthrough flipped
    40 test labels: AUC 0.50 for 0.68): a run that recorded no digest is checked against the labels of its
    predictions_test.csv, and eval says how it checked, and that its recorded intervals came from an older method."""
    import json

    data = _npz(tmp_path / "d.npz")
    run = tmp_path / "run"
    medtrain.train(fast_config(data, run, epochs=1, bootstrap=20), verbose=False)
    m = json.loads((run / "metrics.json").read_text())
    del m["provenance"]["data_sha256"]  # as an older medtrain wrote it
    del m["test"]["auc_ci_draws"]
    (run / "metrics.json").write_text(json.dumps(m))
    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert "predates data digests; its test split was checked by its labels only" in out
    assert "came from an older bootstrap" in out
    assert json.loads((run / "eval_test.json").read_text())["data_checked_by"] == "labels"
    _npz(data, flip_test_label=True)
    assert main(["eval", str(run)]) == 2
    err = capsys.readouterr().err
    assert "labels differ from the 24 in its predictions_test.csv" in err and len(err.splitlines()) == 1


def test_a_run_without_a_bootstrap_is_not_said_to_have_an_older_one(tmp_path, capsys):
    """--bootstrap 0 records auc_ci [None, None]: eval had said its intervals 'came from an older bootstrap'."""
    import json

    data = _npz(tmp_path / "d.npz")
    run = tmp_path / "run"
    medtrain.train(fast_config(data, run, epochs=1, bootstrap=0), verbose=False)
    assert json.loads((run / "metrics.json").read_text())["test"]["auc_ci"] == [None, None]
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    assert "older bootstrap" not in capsys.readouterr().out
