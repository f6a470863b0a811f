"""Runs trained before medtrain kept pixel-identical images in one split: their ``splits.csv`` records the split made
as if the copies were distinct, the split they trained on, so eval, --resume and explain read that split (they had
been refused, told "its old split let test images be copies of training images" where no copy straddled splits:
keeping one pair together re-deals many other images). Copies that did straddle splits in it are said, with their
counts. And a model handed on as weights and config alone, without ``splits.csv``, is not explained on a split
re-made from data that may have changed since (it had explained images it trained on as "test" images)."""
from __future__ import annotations

import dataclasses
import shutil
import warnings

import numpy as np
import pytest
from PIL import Image

import medtrain
from medtrain import config as config_mod
from medtrain import provenance, rundir
from medtrain.data.duplicates import DuplicateImagesWarning, find_duplicates
from medtrain.data.folder import load_folder
from medtrain.data.split import PARTS
from medtrain.errors import MedtrainError

from conftest import fast_config, make_images, run_cli

COPY = "copy.png"  # image 0000.png under another name, in its class folder


def _data(root):
    """80 two-class 16x16 images and one copy of the first: with seed 0 the split made as if they were distinct
    holds both copies in train (and keeping them together moves 19 other images); with seed 3 it held one of
    them in test."""
    images, labels = make_images(80)
    for i, (img, y) in enumerate(zip(images, labels.ravel())):
        d = root / ("bright" if y else "plain")
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(d / f"{i:04d}.png")
    cls = "bright" if labels[0, 0] else "plain"
    shutil.copy(root / cls / "0000.png", root / cls / COPY)
    return root, cls


def _older(record):
    """The record as medtrain wrote it before it kept copies together (what such a run's splits.csv holds)."""
    return dataclasses.replace(record, assign=record.ungrouped, folds=record.ungrouped_folds, ungrouped=None,
                               ungrouped_folds=None, ungrouped_shared=0)


def _old_run(run, data, **load):
    """A run folder whose splits.csv is the split made without keeping copies together; the record of now."""
    record = load_folder(data, **load).record
    assert record.ungrouped is not None and (record.ungrouped != record.assign).any()
    run.mkdir(exist_ok=True)
    rundir.write_splits(run / rundir.SPLITS_FILE, _older(record))
    return record


def test_an_old_run_whose_copies_stayed_in_train_reads_its_split_without_a_word(tmp_path):
    data, cls = _data(tmp_path / "d")
    record = _old_run(tmp_path / "run", data, seed=0)
    at = {x: PARTS[int(a)] for x, a in zip(record.inputs, record.ungrouped)}
    assert at[f"{cls}/0000.png"] == at[f"{cls}/{COPY}"] == "train"
    with warnings.catch_warnings():
        warnings.simplefilter("error", DuplicateImagesWarning)
        s = rundir.run_splits(tmp_path / "run", config_mod.resolve({"data": str(data), "seed": 0}))
    assert np.array_equal(s.record.assign, record.ungrouped)
    assert s.record.rows() == _older(record).rows()  # what --resume writes back: the same splits.csv
    now = load_folder(data, seed=0, store="memory")
    image_of = {src: img for p in PARTS for src, img in zip(now.split(p).sources, now.split(p).images)}
    for i, part in enumerate(PARTS):
        got = s.split(part)
        want = [x for x, a in zip(record.inputs, record.ungrouped) if a == i]
        assert len(got.sources) == len(want) and all(str(s).endswith(x) for s, x in zip(got.sources, want))
        assert all(np.array_equal(img, image_of[src]) for src, img in zip(got.sources, got.images))
    assert sum(find_duplicates(s)["across"].values()) == 0


def test_an_old_run_whose_copies_straddled_splits_reads_its_split_and_says_how_many(tmp_path):
    data, _ = _data(tmp_path / "d")
    record = _old_run(tmp_path / "run", data, seed=3)
    with pytest.warns(DuplicateImagesWarning) as caught:
        s = rundir.run_splits(tmp_path / "run", config_mod.resolve({"data": str(data), "seed": 3}))
    assert np.array_equal(s.record.assign, record.ungrouped)
    (w,) = [w for w in caught if issubclass(w.category, DuplicateImagesWarning)]
    msg = str(w.message)
    assert "\n" not in msg and msg.startswith(f"{tmp_path / 'run'} was trained on the split medtrain made before it "
                                              "kept pixel-identical images in one split")
    assert "1 test image(s) are pixel-identical to training images" in msg


def test_an_old_cross_validation_run_reads_its_folds_as_recorded(tmp_path):
    data, _ = _data(tmp_path / "d")
    for seed in range(6):  # a seed whose folds the copies moved
        record = load_folder(data, seed=seed, folds=3, fold=0).record
        if record.ungrouped is not None:
            break
    record = _old_run(tmp_path / "run", data, seed=seed, folds=3, fold=0)
    s = rundir.run_splits(tmp_path / "run", config_mod.resolve({"data": str(data), "seed": seed, "folds": 3,
                                                                "fold": 0}))
    assert s.record.rows() == _older(record).rows()


def test_an_old_run_of_data_that_did_change_is_still_refused(tmp_path):
    data, _ = _data(tmp_path / "d")
    _old_run(tmp_path / "run", data, seed=0)
    img, _ = make_images(1, seed=9)
    Image.fromarray(img[0]).save(data / "plain" / "new.png")
    with pytest.raises(MedtrainError, match=r"changed since it was trained: 1 input\(s\) added, 0 gone"):
        rundir.run_splits(tmp_path / "run", config_mod.resolve({"data": str(data), "seed": 0}))


def test_a_run_without_splits_csv_is_told_of_leaked_copies_only_where_they_straddled(tmp_path):
    """A run older than splits.csv: eval's digest check says the splitter moved inputs, and claims copies crossed
    splits only where the older split put them there."""
    data, _ = _data(tmp_path / "d")
    run = tmp_path / "run"
    run.mkdir()
    metrics = {"provenance": {"data_sha256": {"test": "0" * 64}}}
    with pytest.raises(MedtrainError) as e:
        provenance.check_unchanged(metrics, load_folder(data, seed=0), "test", run)
    assert "which moved 19 of the 81 inputs" in str(e.value)
    assert "no copy was in another split than its twin" in str(e.value) and "let test images be" not in str(e.value)
    with pytest.raises(MedtrainError, match=r"its old split put 2 input\(s\) in another split than a pixel-identical"):
        provenance.check_unchanged(metrics, load_folder(data, seed=3), "test", run)


@pytest.fixture(scope="module")
def old_run(tmp_path_factory):
    """A finished run on the data with a copy, made an old run: its splits.csv and data digests those of the split
    made without keeping copies together (as the medtrain of that time recorded them)."""
    root = tmp_path_factory.mktemp("old")
    data, _ = _data(root / "d")
    run = root / "run"
    medtrain.train(fast_config(data, run, epochs=1, bootstrap=0, seed=0), verbose=False)
    record = _old_run(run, data, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = rundir.run_splits(run, rundir.load_config(run))
    m = rundir.read_metrics(run)
    m["provenance"]["data_sha256"] = {p: provenance.split_digest(s.split(p)) for p in PARTS}
    rundir.write_json(run / rundir.METRICS_FILE, m)
    return run, data, record


def test_eval_of_an_old_run_scores_the_test_split_it_trained_with(old_run, capsys):
    run, _, record = old_run
    code, printed, err = run_cli(capsys, "eval", run)
    assert code == 0, err
    assert "pixel-identical" not in err
    scored = rundir.read_metrics(run, rundir.eval_file("test"))
    assert scored["n"] == int((record.ungrouped == 2).sum()) and scored["data_checked_by"] == "sha256"
    assert f"{run} on test" in printed


def test_the_missing_data_line_claims_only_the_checks_the_folder_holds(tmp_path):
    gone = tmp_path / "gone.npz"
    cfg = config_mod.resolve({"data": str(gone)})
    got = tmp_path / "got"
    got.mkdir()
    (got / rundir.WEIGHTS_FILE).write_bytes(b"")
    rundir.write_config(got, cfg)
    with pytest.raises(MedtrainError) as e:
        rundir.run_splits(got, cfg)
    assert f"{got} holds no splits.csv or data digests (metrics.json) to check that they are the data" in str(e.value)
    assert "then check" not in str(e.value)
    (got / rundir.SPLITS_FILE).write_text("input,split,group\n")
    (got / rundir.METRICS_FILE).write_text("{}")
    with pytest.raises(MedtrainError, match="the run's splits.csv and its data digests then check that they are"):
        rundir.run_splits(got, cfg)
