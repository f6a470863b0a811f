"""A grey run reads RGB images of an .npz as it reads RGB PNGs, one rule for both (predict_inputs.conform): a grey
picture stored as RGB (equal channels) is its one grey channel, a coloured one is refused in one line. Pinned here
after a review suspected the .npz to be converted (or mis-shaped) where the PNG is refused: it is not."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import read_rows, run_cli


def _inputs(arrays, tmp_path, coloured: bool):
    grey = arrays["test_images"][:4]
    rgb = np.stack([grey, grey // 2 if coloured else grey, grey], axis=-1)  # (N, H, W, 3) as MedMNIST holds colour
    np.savez(tmp_path / "rgb.npz", test_images=rgb, test_labels=arrays["test_labels"][:4])
    for i, image in enumerate(rgb):
        Image.fromarray(image).save(tmp_path / f"{i}.png")
    return tmp_path / "rgb.npz", [tmp_path / f"{i}.png" for i in range(4)]


def test_grey_pictures_stored_as_rgb_predict_as_the_grey_images(trained_run, tmp_path, capsys):
    run, _, arrays = trained_run
    npz, pngs = _inputs(arrays, tmp_path, coloured=False)
    np.savez(tmp_path / "grey.npz", test_images=arrays["test_images"][:4], test_labels=arrays["test_labels"][:4])
    probs = {}
    for name, inputs in (("grey", [tmp_path / "grey.npz"]), ("npz", [npz]), ("png", pngs)):
        code, _, err = run_cli(capsys, "predict", run, *inputs, "--out", tmp_path / f"{name}.csv")
        assert code == 0, err
        probs[name] = [[v for k, v in row.items() if k not in ("input", "prediction")]
                       for row in read_rows(tmp_path / f"{name}.csv")]
    assert probs["npz"] == probs["grey"] == probs["png"]


@pytest.mark.parametrize("how", ["predict npz", "eval npz", "predict png"])
def test_coloured_images_are_refused_alike(trained_run, tmp_path, capsys, how):
    run, _, arrays = trained_run
    npz, pngs = _inputs(arrays, tmp_path, coloured=True)
    argv = {"predict npz": ["predict", run, npz, "--out", tmp_path / "p.csv"],
            "eval npz": ["eval", run, "--data", npz],
            "predict png": ["predict", run, pngs[0], "--out", tmp_path / "p.csv"]}[how]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and ": a colour image (its channels differ by up to " in err and err.strip().endswith(
        "but the model takes grey images: an RGB(A) image is taken only where its three channels are equal (a grey "
        "image stored as colour); convert it to grey first if that is what it is"), err
    assert not (tmp_path / "p.csv").exists()


def test_a_grey_picture_with_a_faint_tint_is_said_to_be_colour_and_the_export_says_the_rule(trained_run, tmp_path,
                                                                                           capsys):
    # a +2 blue cast had been "3 channel(s), but the model takes 1", while the ONNX metadata told a deployer to
    # convert any image to 'L' (scored there, refused here)
    import json

    from PIL import Image

    run, _, arrays = trained_run
    rgb = np.stack([arrays["test_images"][0]] * 3, -1).astype(int)
    rgb[..., 2] = np.clip(rgb[..., 2] + 2, 0, 255)
    Image.fromarray(rgb.astype(np.uint8)).save(tmp_path / "tint.png")
    code, _, err = run_cli(capsys, "predict", run, tmp_path / "tint.png", "--out", tmp_path / "p.csv")
    assert code == 2 and "a colour image (its channels differ by up to 2 grey levels)" in err, err
    code, _, err = run_cli(capsys, "export", run, "--out", tmp_path / "m.onnx")
    assert code == 0, err
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    steps = json.loads(meta["preprocessing"])["before_the_graph"]
    assert any("only where its three channels are equal" in step for step in steps), steps
