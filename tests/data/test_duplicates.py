"""Pixel-identical images within and across splits (:mod:`medtrain.data.duplicates`): counted in a run's
``metrics.json``, said in one warning line when a split holds images of another, and found when "external"
data are the run's own training images."""
from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import torch
from PIL import Image

import medtrain
from conftest import fast_config, make_images, run_cli
from medtrain.data import Split, Splits
from medtrain.data.duplicates import DuplicateImagesWarning, find_duplicates, seen_in
from medtrain.external import external_file


def _split(images):
    return Split(torch.as_tensor(images)[:, None], torch.zeros(len(images), dtype=torch.int64))


def test_copies_are_counted_within_and_across_splits():
    train, _ = make_images(20, seed=0)
    val, _ = make_images(6, seed=1)
    test, _ = make_images(8, seed=2)
    test[:3] = train[[4, 4, 9]]  # three test images are training images (two copies of one)
    val[0] = test[7]
    train[1] = train[0]
    s = Splits("d", "binary-class", {"0": "a", "1": "b"}, _split(train), _split(val), _split(test))
    assert find_duplicates(s) == {"within": {"train": 1, "val": 0, "test": 1},
                                  "across": {"train-val": 0, "train-test": 3, "val-test": 1}}
    moved = test.copy()
    moved[0, 0, 0] ^= 1  # one pixel differs: another image
    s2 = Splits("d", "binary-class", {"0": "a", "1": "b"}, _split(train), _split(val), _split(moved))
    assert find_duplicates(s2)["across"]["train-test"] == 2
    assert seen_in(torch.as_tensor(test[:4])[:, None], s) == {"train": 3, "val": 0, "any": 3}
    both = Splits("d", "binary-class", {"0": "a", "1": "b"}, _split(train), _split(train[:6]), _split(test))
    assert seen_in(torch.as_tensor(train[:2])[:, None], both) == {"train": 2, "val": 2, "any": 2}  # counted once


def test_a_run_whose_test_split_holds_training_images_says_so(tmp_path):
    arrays = {}
    for split, n, seed in (("train", 48, 0), ("val", 16, 1), ("test", 16, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, seed=seed)
    arrays["test_images"][:5] = arrays["train_images"][:5]
    np.savez(tmp_path / "d.npz", **arrays)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        medtrain.train(fast_config(tmp_path / "d.npz", tmp_path / "run", epochs=1, bootstrap=0), verbose=False)
    said = [str(w.message) for w in caught if issubclass(w.category, DuplicateImagesWarning)]
    assert len(said) == 1 and "5 test image(s) are pixel-identical to training images" in said[0]
    data = json.loads((tmp_path / "run" / "metrics.json").read_text())["data"]
    assert data["duplicates"]["across"] == {"train-val": 0, "train-test": 5, "val-test": 0}


def test_a_run_without_copies_is_silent_and_records_zeros(trained_run):
    run, _, _ = trained_run
    data = json.loads((run / "metrics.json").read_text())["data"]
    assert data["duplicates"] == {"within": {"train": 0, "val": 0, "test": 0},
                                  "across": {"train-val": 0, "train-test": 0, "val-test": 0}}


def test_external_data_that_are_the_run_s_training_images_are_named(trained_run, tmp_path, capsys):
    run, data, arrays = trained_run
    folder = tmp_path / "external"
    for i, (img, y) in enumerate(zip(arrays["train_images"][:12], arrays["train_labels"][:12, 0])):
        (folder / str(y)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / str(y) / f"copy{i}.png")  # renamed copies of training images
    code, out, err = run_cli(capsys, "eval", run, "--data", folder)
    assert code == 0, err
    assert "12 of its 12 images are pixel-identical to images" in err and "they are not external data" in err
    assert json.loads((run / external_file(folder)).read_text())["seen_in_run"] == {"train": 12, "val": 0, "any": 12}

    shutil.rmtree(folder)  # unseen images: nothing said, zeros recorded
    for i, (img, y) in enumerate(zip(*make_images(12, seed=7))):
        (folder / str(y[0])).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / str(y[0]) / f"new{i}.png")
    code, out, err = run_cli(capsys, "eval", run, "--data", folder)
    assert code == 0 and "pixel-identical" not in err
    assert json.loads((run / external_file(folder)).read_text())["seen_in_run"] == {"train": 0, "val": 0, "any": 0}


def test_copies_of_volumes_are_named_volumes():
    from medtrain.data.duplicates import duplicates_line

    found = {"within": {"train": 0, "val": 0, "test": 0}, "across": {"train-val": 0, "train-test": 2, "val-test": 0}}
    assert "2 test volume(s) are pixel-identical to training volumes" in duplicates_line(found, "v", "volume")
