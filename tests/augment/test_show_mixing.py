"""``medtrain augment show`` shows label mixing as training mixes: Mixup and CutMix pair the rows, and each draw is
captioned with the target the loss would see (``0.63 benign + 0.37 malignant``), read here back from the pixels
themselves; ``--mixup-alpha``/``--cutmix-alpha`` (train's flags) and a ``--config``'s alphas and ``augment_params``
reach the ops; a ``--config``'s ``color_space`` is checked as train checks it and said, not silently ignored. The
grid had drawn mixed images with no labels, refused ``--mixup-alpha`` and ignored ``augment_params``."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import medtrain.augment.grid as grid
from conftest import run_cli
from medtrain.augment.grid import pair_order, target_text
from medtrain.tasks import BINARY, MULTILABEL

pytestmark = pytest.mark.usefixtures("one_thread")

#: the two images' constant grey levels: every pixel of a draw tells which image it came from
LOW, HIGH = 40, 220


def two_images(path, channels: int = 1):
    """Per split an all-LOW image of class 1 and an all-HIGH image of class 0 (listed in that order, so the grid
    has to put class 0 first itself)."""
    shape = (16, 16) if channels == 1 else (16, 16, channels)
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = np.stack([np.full(shape, LOW, np.uint8), np.full(shape, HIGH, np.uint8)])
        arrays[f"{split}_labels"] = np.array([[1], [0]], np.uint8)
    np.savez(path, **arrays)
    return path


@pytest.fixture
def shown(monkeypatch):
    """What ``augment show`` drew and captioned: ``{"columns": [(x, y), ...], "captions": [[...], ...]}``."""
    got = {}
    draw, caption = grid.draw_columns, grid.grid_captions

    def spy_draw(*a, **k):
        got["columns"] = draw(*a, **k)
        return got["columns"]

    def spy_caption(*a, **k):
        got["captions"] = caption(*a, **k)
        return got["captions"]

    monkeypatch.setattr(grid, "draw_columns", spy_draw)
    monkeypatch.setattr(grid, "grid_captions", spy_caption)
    return got


def show(capsys, tmp_path, *flags, data=None):
    data = data or two_images(tmp_path / "two.npz")
    out = tmp_path / "grid.png"
    code, stdout, err = run_cli(capsys, "augment", "show", "--data", data, "--n", "2", "--out", out, *flags)
    return code, stdout, err, out


def weights(caption: str) -> dict:
    """``"0.63 class 0 + 0.37 class 1"`` -> ``{"class 0": 0.63, "class 1": 0.37}``; a lone class weighs 1."""
    parts = caption.split(" + ")
    if len(parts) == 1:
        return {caption: 1.0}
    return {m.group(2): float(m.group(1)) for m in (re.fullmatch(r"(\d\.\d\d) (.+)", p) for p in parts)}


def rows(shown):
    """Row -> (own grey level, partner's grey level, own class): row 0 is class 0, paired with row 1."""
    x0, y0 = shown["columns"][0]
    levels = [round(float(x0[i].flatten()[0]) * 255) for i in range(2)]
    assert y0.argmax(1).tolist() == [0, 1] and levels == [HIGH, LOW]  # ordered by class: the pair crosses them
    return [(levels[i], levels[1 - i], i) for i in range(2)]


def test_cutmix_captions_the_share_of_pixels_pasted_from_the_partner(capsys, tmp_path, shown):
    code, _, err, out = show(capsys, tmp_path, "--augment", "cutmix", "--draws", "8")
    assert code == 0, err
    assert out.is_file()
    mixed = 0
    for j, (x, y) in enumerate(shown["columns"][1:], start=1):
        for i, (own, partner, cls) in enumerate(rows(shown)):
            level = torch.round(x[i] * 255)
            assert bool(((level == own) | (level == partner)).all())  # pasted, not blended
            pasted = float((level == partner).float().mean())  # counted in the image itself
            assert float(y[i, 1 - cls]) == pytest.approx(pasted, abs=1e-6)  # lambda: the box's exact area share
            assert float(y[i, cls]) == pytest.approx(1 - pasted, abs=1e-6)
            said = weights(shown["captions"][j][i])
            if 0 < pasted < 1:
                mixed += 1
                assert said == {f"class {cls}": round(1 - pasted, 2), f"class {1 - cls}": round(pasted, 2)}
    assert mixed >= 8  # most draws paste a box
    assert [c for c in shown["captions"][0]] == ["class 0", "class 1"]  # the originals' own classes


def test_mixup_captions_the_blend_weight_read_back_from_the_pixels(capsys, tmp_path, shown):
    code, _, err, _ = show(capsys, tmp_path, "--augment", "mixup", "--draws", "6", "--mixup-alpha", "1")
    assert code == 0, err
    for j, (x, y) in enumerate(shown["columns"][1:], start=1):
        for i, (own, partner, cls) in enumerate(rows(shown)):
            lam = float((x[i].mean() * 255 - partner) / (own - partner))  # own share of the blend, from the pixels
            assert float(y[i, cls]) == pytest.approx(lam, abs=1e-4)
            assert f"{float(y[i, cls]):.2f} class {cls}" in shown["captions"][j][i]


@pytest.mark.parametrize("how", ["flag", "config"])
def test_mixup_alpha_reaches_the_draws_from_the_flag_or_the_config(capsys, tmp_path, shown, how):
    def own_weights(alpha):
        if how == "flag":
            flags = ["--mixup-alpha", str(alpha)]
        else:
            cfg = tmp_path / f"a{alpha}.yaml"
            cfg.write_text(f"mixup_alpha: {alpha}\n")
            flags = ["--config", cfg]
        code, _, err, _ = show(capsys, tmp_path, "--augment", "mixup", "--draws", "8", *flags)
        assert code == 0, err
        return [float(y[i].max()) for _, y in shown["columns"][1:] for i in range(2)]

    assert all(w < 0.6 for w in own_weights(1000))  # Beta(1000, 1000): a blend near half and half
    assert sum(w > 0.95 for w in own_weights(0.01)) >= 12  # Beta(0.01, 0.01): mostly one image or the other


def test_an_alpha_no_op_reads_or_out_of_range_is_refused_in_one_line(capsys, tmp_path):
    for flags, said in ((["--augment", "flip", "--mixup-alpha", "0.4"], "--mixup-alpha 0.4: no augmentation"),
                        (["--augment", "mixup", "--cutmix-alpha", "0.4"], "--cutmix-alpha 0.4: no augmentation"),
                        (["--augment", "cutmix", "--cutmix-alpha", "0"], "must be > 0")):
        code, _, err, out = show(capsys, tmp_path, *flags)
        errors = [line for line in err.splitlines() if line.startswith("medtrain: error:")]
        assert code == 2 and len(errors) == 1 and said in errors[0] and "Traceback" not in err
        assert not out.exists()


def test_a_configs_color_space_is_checked_and_said(capsys, tmp_path):
    cfg = tmp_path / "hsv.yaml"
    cfg.write_text("color_space: hsv\n")
    code, _, err, out = show(capsys, tmp_path, "--augment", "flip", "--config", cfg)  # grey images
    assert code == 2 and "color_space hsv needs RGB images" in err and not out.exists()
    rgb = two_images(tmp_path / "rgb.npz", channels=3)
    code, stdout, err, out = show(capsys, tmp_path, "--augment", "flip", "--config", cfg, data=rgb)
    assert code == 0, err
    assert "color_space hsv" in stdout and "shows the draws in RGB" in stdout and out.is_file()


def test_a_configs_augment_params_reach_the_ops(capsys, tmp_path, shown):
    cfg = tmp_path / "cutout.yaml"
    cfg.write_text("augment_params: {cutout_value: 0.5, cutout_p: 1.0}\n")
    code, _, err, _ = show(capsys, tmp_path, "--augment", "cutout", "--draws", "3", "--config", cfg)
    assert code == 0, err
    assert all(bool((x == 0.5).any()) for x, _ in shown["columns"][1:])  # filled with the config's value, not 0


def test_pca_lighting_is_fitted_on_the_training_images(capsys, tmp_path):
    code, _, err, out = show(capsys, tmp_path, "--augment", "pca", data=two_images(tmp_path / "rgb.npz", 3))
    assert code == 0, err  # had been "augmentation 'pca' needs params['pca_eig']"
    assert out.is_file()


def test_target_text_names_classes_and_mixed_weights():
    names = {"0": "benign", "1": "malignant"}
    assert target_text(torch.tensor([0.0, 1.0]), names, BINARY) == "malignant"
    assert target_text(torch.tensor([0.37, 0.63]), names, BINARY) == "0.63 malignant + 0.37 benign"
    assert target_text(torch.tensor([0.37, 0.63]), {"0": "0", "1": "1"}, BINARY) == "0.63 class 1 + 0.37 class 0"
    labels = {"0": "effusion", "1": "mass", "2": "nodule"}
    assert target_text(torch.tensor([1.0, 0.0, 1.0]), labels, MULTILABEL) == "effusion, nodule"
    assert target_text(torch.tensor([0.0, 0.0, 0.0]), labels, MULTILABEL) == "no label"
    assert target_text(torch.tensor([1.0, 0.37, 0.0]), labels, MULTILABEL) == "1.00 effusion, 0.37 mass"


def test_pair_order_makes_the_mixed_pairs_cross_classes():
    labels = torch.tensor([1, 1, 0, 1, 0, 1])
    order = pair_order(labels, BINARY)
    ordered = labels[order].tolist()
    pairs = [(ordered[i], ordered[-1 - i]) for i in range(3)]
    assert sum(a != b for a, b in pairs) == 2  # as many as two images of class 0 allow
