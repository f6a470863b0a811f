"""The files of ``medtrain eval RUN --data X`` (``eval_external_*.json``, ``predictions_external_*.csv``) are named
by the data, not by its file name alone: two sites' ``test.csv`` had both written ``eval_external_test.json``, the
second over the first, and ``eval --vs --data`` had then left each run with the other site's scores only."""
from __future__ import annotations

import json
import os

import pytest

from conftest import png_csv, read_rows, run_cli
from medtrain.external import external_file, external_name, external_predictions_file


def _sites(root, arrays):
    """Two CSVs named test.csv in two folders: site_a the first 20 test images, site_b the last 20, its labels
    flipped (so the two score apart)."""
    images, labels = arrays["test_images"], arrays["test_labels"]
    return (png_csv(root / "site_a", images[:20], labels[:20], name="test.csv"),
            png_csv(root / "site_b", images[20:], 1 - labels[20:], name="test.csv"))


def test_data_of_one_file_name_in_two_folders_are_two_names_and_the_same_data_one(tmp_path, monkeypatch):
    for a, b in ((tmp_path / "site_a" / "test.csv", tmp_path / "site_b" / "test.csv"),
                 (tmp_path / "a" / "images", tmp_path / "b" / "images"),  # folders of class sub-folders
                 (tmp_path / "x" / "tiny.npz", tmp_path / "y" / "tiny.npz")):
        assert external_name(a, "test") != external_name(b, "test"), (a, b)
        assert external_name(a, "test").startswith(a.stem + "_")  # the readable stem kept
    npz = tmp_path / "x" / "tiny.npz"
    assert len({external_name(npz, s) for s in ("train", "val", "test")}) == 3
    assert external_name(npz, "val").startswith("tiny_val_")
    # the same data however it is reached: a relative path, a path through "..", a link
    (tmp_path / "site_a").mkdir()
    monkeypatch.chdir(tmp_path / "site_a")
    os.symlink(tmp_path / "site_a", tmp_path / "link")
    names = {external_file(p) for p in ("test.csv", tmp_path / "site_b" / ".." / "site_a" / "test.csv",
                                        tmp_path / "link" / "test.csv", tmp_path / "site_a" / "test.csv")}
    assert names == {external_file(tmp_path / "site_a" / "test.csv")}


def test_two_sites_test_csv_keep_their_own_evaluations_and_a_second_evaluation_overwrites_its_own(
        trained_run, tmp_path, capsys, monkeypatch):
    run, _, arrays = trained_run
    site_a, site_b = _sites(tmp_path, arrays)
    scored = {}
    for csv in (site_a, site_b):
        code, out, err = run_cli(capsys, "eval", run, "--data", csv)
        assert code == 0, err
        assert f"written to {run / external_file(csv)}" in out
        scored[csv] = json.loads((run / external_file(csv)).read_text())
    for csv, truth in ((site_a, arrays["test_labels"][:20, 0]), (site_b, 1 - arrays["test_labels"][20:, 0])):
        got = json.loads((run / external_file(csv)).read_text())  # site_a's still there after site_b's
        assert got["data"] == str(csv.resolve()) and got["data_split"] == "test" and got["n"] == 20
        rows = read_rows(run / external_predictions_file(csv))
        assert [r["true_label"] for r in rows] == [str(y) for y in truth]

    files = sorted(p.name for p in run.glob("*_external_*"))
    monkeypatch.chdir(site_a.parent)  # site_a again, by a relative path: its own file rewritten, no new one
    (run / external_file(site_a)).write_text("{}")
    assert run_cli(capsys, "eval", run, "--data", "test.csv")[0] == 0
    assert sorted(p.name for p in run.glob("*_external_*")) == files
    again = json.loads((run / external_file(site_a)).read_text())
    assert again["data"] == str(site_a.resolve()) and again["acc"] == pytest.approx(scored[site_a]["acc"])


def test_runs_compared_on_two_sites_keep_each_site_s_evaluation(trained_run, tmp_path, capsys):
    """``eval --vs OTHER --data`` on each site: each comparison's numbers are each run's own evaluation of that
    site, and both stay in the run folders (the second site's had replaced the first's)."""
    import medtrain
    from conftest import fast_config
    from medtrain.versus import versus_file

    run, data, arrays = trained_run
    other = tmp_path / "seed1"
    medtrain.train(fast_config(data, other, model="resnet18_28_half", epochs=1, bootstrap=0, tta="hflip", seed=1),
                   verbose=False)
    sites = _sites(tmp_path, arrays)
    for csv in sites:
        assert run_cli(capsys, "eval", other, "--vs", run, "--data", csv)[0] == 0
    for csv in sites:
        got = json.loads((other / versus_file(run, csv)).read_text())
        mine, theirs = (json.loads((r / external_file(csv)).read_text()) for r in (other, run))
        assert mine["data"] == theirs["data"] == str(csv.resolve())
        assert got["acc"]["run"] == pytest.approx(mine["acc"]) and got["acc"]["other"] == pytest.approx(theirs["acc"])
        assert got["auc"]["run"] == pytest.approx(mine["auc"]) and got["auc"]["other"] == pytest.approx(theirs["auc"])


def test_class_names_in_another_unicode_form_are_the_run_s_classes(tmp_path):
    # a class folder copied from a Mac names 'Mélanome' decomposed: eval --data had refused it as "not classes of
    # the run (Mélanome, ...)", said to "differ only in case"
    import unicodedata

    import medtrain
    from conftest import fast_config, make_images

    classes = ["bénin", "Mélanome"]
    images, labels = make_images(48, seed=0)
    train_csv = png_csv(tmp_path / "train", list(images), labels, classes=classes)
    medtrain.train(fast_config(train_csv, tmp_path / "run", epochs=1, bootstrap=0, tta="none"), verbose=False)
    test_images, test_labels = make_images(20, seed=5)
    nfc = png_csv(tmp_path / "nfc", list(test_images), test_labels, classes=classes)
    nfd = png_csv(tmp_path / "nfd", list(test_images), test_labels,
                  classes=[unicodedata.normalize("NFD", c) for c in classes])
    assert unicodedata.normalize("NFD", "Mélanome") in nfd.read_text(encoding="utf-8")
    from medtrain.external import evaluate_external

    a = evaluate_external(tmp_path / "run", nfc, verbose=False)
    b = evaluate_external(tmp_path / "run", nfd, verbose=False)
    assert (b["auc"], b["acc"], b["n"]) == (a["auc"], a["acc"], 20)
