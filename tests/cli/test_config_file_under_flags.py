"""``tune`` and ``compare`` read ``--config FILE`` under the flags as ``train`` does: ``--data`` given beside a
file naming a ``dataset`` replaces it (it had been refused, "give --dataset NAME or --data PATH, not both", while
``train`` with the same file and flags trained)."""
from __future__ import annotations

import pytest

import medtrain.compare
import medtrain.tune
from conftest import make_npz
from medtrain import config as config_mod
from medtrain.cli import main


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "base.yaml"
    path.write_text("dataset: breastmnist\nmodel: resnet10_28_half\naccelerator: cpu\nbootstrap: 200\n")
    return path


@pytest.fixture
def data(tmp_path):
    return make_npz(tmp_path / "mine.npz")


def test_tune_trains_on_the_data_flag_over_the_files_dataset(recipe, data, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(medtrain.tune, "tune", lambda base, space, out, **k: seen.append(base) or {})
    assert main(["tune", "--config", str(recipe), "--data", str(data), "--trials", "1",
                 "--out", str(tmp_path / "t")]) == 0
    (base,) = seen
    cfg = config_mod.resolve(base)
    assert (cfg.data, cfg.dataset) == (str(data), None)
    assert (cfg.model, cfg.bootstrap) == ("resnet10_28_half", 200)  # the file's other settings are kept


def test_compare_trains_on_the_data_flag_over_the_files_dataset(recipe, data, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(medtrain.compare, "compare", lambda base, grid, seeds, out: seen.append(base))
    assert main(["compare", "--config", str(recipe), "--data", str(data), "--vary", "lr=0.01",
                 "--out", str(tmp_path / "c")]) == 0
    (base,) = seen
    cfg = config_mod.resolve(base)
    assert (cfg.data, cfg.dataset) == (str(data), None)
    assert cfg.model == "resnet10_28_half"


def test_the_dataset_flag_replaces_the_files_data(tmp_path, data):
    assert config_mod.layered({"data": str(data), "lr": 0.1}, {"dataset": "breastmnist"}) == {
        "dataset": "breastmnist", "lr": 0.1}


def test_one_layer_naming_both_sources_is_still_refused(tmp_path, data, capsys):
    both = tmp_path / "both.yaml"
    both.write_text(f"dataset: breastmnist\ndata: {data}\n")
    assert main(["tune", "--config", str(both), "--trials", "1", "--out", str(tmp_path / "t")]) == 2
    assert "not both" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()
