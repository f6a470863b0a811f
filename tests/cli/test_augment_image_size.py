"""``medtrain augment show`` and ``augment search`` take ``--image-size`` as ``train`` does: the loaders' message for
non-square images ("pass --image-size N") had named an option neither command had, so a folder of non-square photographs
could be shown or searched only through a ``--config`` file. Search hands it to its candidates and to the ``train``
line it prints."""
from __future__ import annotations

import numpy as np
import pytest

import medtrain.api
import medtrain.tune.flips
from conftest import png_csv, run_cli
from medtrain.config.descriptions import DESCRIPTIONS

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def oblong(tmp_path):
    """A folder of 3 classes of 20x12 grey PNGs (not square)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (36, 12, 20), dtype=np.uint8)
    return png_csv(tmp_path / "oblong", images, np.arange(36) % 3, classes=["a", "b", "c"],
                   path="{label}/{i}.png", name=None)


@pytest.mark.parametrize("action", ["show", "search"])
def test_the_image_size_flag_is_there_with_train_s_help(capsys, action):
    with pytest.raises(SystemExit):
        run_cli(capsys, "augment", action, "--help")
    flat = " ".join(capsys.readouterr().out.split())
    assert f"--image-size N {DESCRIPTIONS['image_size']}" in flat


def test_show_draws_non_square_images_resized_by_the_flag_the_refusal_names(oblong, tmp_path, capsys):
    code, _, err = run_cli(capsys, "augment", "show", "--data", oblong, "--augment", "flip", "--n", "2", "--draws", "1",
                           "--out", tmp_path / "a.png")
    assert code == 2 and "pass --image-size N" in err
    code, out, err = run_cli(capsys, "augment", "show", "--data", oblong, "--augment", "flip", "--n", "2", "--draws",
                             "1", "--image-size", "16", "--out", tmp_path / "a.png")
    assert code == 0, err
    assert (tmp_path / "a.png").is_file() and "wrote" in out


def test_image_size_on_data_at_their_own_size_is_refused_as_train_refuses_it(tiny_npz, tmp_path, capsys):
    code, _, err = run_cli(capsys, "augment", "show", "--data", tiny_npz, "--augment", "flip", "--image-size", "32",
                           "--out", tmp_path / "a.png")
    assert code == 2 and err.startswith("medtrain: error: --image-size 32 applies to image folders and CSVs only")
    assert not (tmp_path / "a.png").exists()


def test_search_trains_its_candidates_at_the_size_and_prints_it_in_the_train_line(oblong, tmp_path, capsys,
                                                                                   monkeypatch):
    sizes = []

    def train(cfg, *args, **kwargs):  # the candidates: faked, their settings kept
        sizes.append(cfg.image_size)
        return {"val": {"auc": 0.7}}

    monkeypatch.setattr(medtrain.api, "train", train)
    monkeypatch.setattr(medtrain.tune.flips, "decide_once", lambda *a: {"pinned": False})
    code, out, err = run_cli(capsys, "augment", "search", "--data", oblong, "--image-size", "16", "--budget-epochs",
                             "1", "--n-values", "1", "--m-values", "3", "--no-baseline", "--out", tmp_path / "p.yaml")
    assert code == 0, err
    assert sizes == [16]
    line = out.split("train with: ")[1].strip()
    assert line.startswith(f"medtrain train --data {oblong} --image-size 16 ")
