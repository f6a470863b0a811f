"""``medtrain predict`` reads a user's own data in the forms the data loaders read: WebP and GIF files of a
folder, and an .npz that holds only the split asked for."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import medtrain
from conftest import read_rows, run_cli


@pytest.mark.parametrize("suffix", ["webp", "gif"])
def test_a_folder_of_webp_or_gif_images_is_predicted_as_their_pixels(trained_run, tmp_path, capsys, suffix):
    """Such a folder had been "nothing to predict"."""
    run, _, arrays = trained_run
    images = arrays["test_images"][:4]
    (tmp_path / "in").mkdir()
    for i, img in enumerate(images):
        Image.fromarray(img).save(tmp_path / "in" / f"{i}.{suffix}", lossless=True)
    code, out, err = run_cli(capsys, "predict", run, tmp_path / "in", "--out", tmp_path / "p.csv")
    assert code == 0, err
    rows = read_rows(tmp_path / "p.csv")
    assert [r["input"].rsplit("/", 1)[-1] for r in rows] == [f"{i}.{suffix}" for i in range(4)]
    labels = list(medtrain.load(run).labels)
    got = np.array([[float(r[c]) for c in labels] for r in rows])
    np.testing.assert_allclose(got, medtrain.load(run).predict(images), atol=1e-5)


def test_an_npz_of_only_the_split_asked_for_is_predicted(trained_run, tmp_path, capsys):
    """Predicting needs the images of one split: an .npz of test_images (labels or not) is enough."""
    run, _, arrays = trained_run
    np.savez(tmp_path / "test_only.npz", test_images=arrays["test_images"], test_labels=arrays["test_labels"])
    np.savez(tmp_path / "no_labels.npz", test_images=arrays["test_images"])
    want = medtrain.load(run).predict(arrays["test_images"])
    labels = list(medtrain.load(run).labels)
    for name in ("test_only", "no_labels"):
        code, _, err = run_cli(capsys, "predict", run, tmp_path / f"{name}.npz", "--out", tmp_path / f"{name}.csv")
        assert code == 0, err
        rows = read_rows(tmp_path / f"{name}.csv")
        np.testing.assert_allclose(np.array([[float(r[c]) for c in labels] for r in rows]), want, atol=1e-5)


def test_an_npz_without_the_split_asked_for_names_the_missing_key(trained_run, tmp_path, capsys):
    run, _, arrays = trained_run
    np.savez(tmp_path / "test_only.npz", test_images=arrays["test_images"])
    code, _, err = run_cli(capsys, "predict", run, tmp_path / "test_only.npz", "--split", "val",
                        "--out", tmp_path / "p.csv")
    assert code == 2 and "Traceback" not in err
    assert err.count("\n") == 1 and "val_images" in err
    assert not (tmp_path / "p.csv").exists()
