"""An .npz without the split asked for is said alike to eval, predict and explain, in words that fit each: eval had
been told "... has no val_labels to predict", and an .npz of images without labels "pick the split it holds with
--split" (the split was there; the labels eval scores against were not)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import run_cli


@pytest.fixture
def test_only(trained_run, tmp_path):
    _, _, arrays = trained_run
    path = tmp_path / "ext.npz"
    np.savez(path, test_images=arrays["test_images"][:8], test_labels=arrays["test_labels"][:8])
    return path


def _said(capsys, *argv) -> str:
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    return err.strip().removeprefix("medtrain: error: ")


@pytest.mark.parametrize("command", ["eval", "predict", "explain"])
def test_a_split_the_npz_lacks_is_said_alike_to_every_command(trained_run, test_only, tmp_path, capsys, command):
    run, _, _ = trained_run
    before = sorted(p.name for p in run.iterdir())
    argv = {"eval": ["eval", run, "--data", test_only],
            "predict": ["predict", run, test_only, "--out", tmp_path / "p.csv"],
            "explain": ["explain", run, test_only, "--out", tmp_path / "ex"]}[command]
    assert _said(capsys, *argv, "--split", "val") == (
        f"{test_only} has no val split (no val_images; it holds test_images, test_labels); "
        "pick a split it holds: --split test")
    assert sorted(p.name for p in run.iterdir()) == before and not list(tmp_path.glob("p.csv")) + list(
        tmp_path.glob("ex"))


def test_eval_of_images_without_labels_asks_for_the_labels_not_another_split(trained_run, tmp_path, capsys):
    run, _, arrays = trained_run
    path = tmp_path / "unlabelled.npz"
    np.savez(path, test_images=arrays["test_images"][:8])
    said = _said(capsys, "eval", run, "--data", path)
    assert said == (f"{path} has no test_labels (it holds test_images); scoring its test_images needs their labels: "
                    "add them, or predict the images (medtrain predict)")
    code, _, err = run_cli(capsys, "predict", run, path, "--out", tmp_path / "p.csv")  # predict needs no labels
    assert code == 0, err


def test_an_npz_of_no_split_at_all_says_the_layout(trained_run, tmp_path, capsys):
    run, _, _ = trained_run
    path = tmp_path / "odd.npz"
    np.savez(path, x=np.zeros(3))
    assert _said(capsys, "predict", run, path, "--out", tmp_path / "p.csv") == (
        f"{path} has no test split (no test_images; it holds x); save the images as train_images, val_images or "
        "test_images (MedMNIST layout)")


def test_eval_is_offered_only_a_split_it_can_score(trained_run, tmp_path, capsys):
    """eval asking for a split the .npz lacks is offered only splits with labels: it had been offered a split of
    images without labels (``--split test``), which it then refused for them; predict is still offered it."""
    run, _, arrays = trained_run
    images, labels = arrays["test_images"][:8], arrays["test_labels"][:8]
    path = tmp_path / "some.npz"
    np.savez(path, test_images=images, val_images=images, val_labels=labels)
    assert _said(capsys, "eval", run, "--data", path, "--split", "train") == (
        f"{path} has no train split (no train_images; it holds test_images, val_images, val_labels); pick a split "
        "it holds with labels: --split val")
    assert _said(capsys, "predict", run, path, "--split", "train", "--out", tmp_path / "p.csv").endswith(
        "pick a split it holds: --split val or test")
    bare = tmp_path / "bare.npz"
    np.savez(bare, test_images=images)
    said = _said(capsys, "eval", run, "--data", bare, "--split", "val")
    assert said == (f"{bare} has no val split (no val_images; it holds test_images); scoring needs labels, and none of "
                    "its splits has them (no test_labels): add them, or predict the images (medtrain predict)")
