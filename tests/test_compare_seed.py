"""``compare``'s base seed: a Config's ``seed`` (other than its default 0) or a dict's typed ``seed`` had been
overwritten by each cell's seed of ``seeds`` without a word (``compare(Config(seed=5), grid, [0])`` trained
seed 0). Now the base's seed is the seeds where none are given, and refused in one line beside other seeds.
Training is replaced by canned metrics: what is tested is which seeds the cells train."""
from __future__ import annotations

import json
import re

import pytest

from medtrain.compare import compare
from medtrain.config import Config
from medtrain.errors import MedtrainError

from test_compare_typed import _fake_training


def _config(npz, **over) -> Config:
    return Config(data=str(npz), model="resnet10_28_half", epochs=1, batch_size=32, **over)


def test_a_configs_seed_is_the_seed_its_cells_train_when_no_seeds_are_given(tiny_npz, tmp_path, monkeypatch):
    trained = _fake_training(monkeypatch)
    rows = compare(_config(tiny_npz, seed=5), {"dropout": [0.0, 0.2]}, out=tmp_path / "grid", verbose=False)
    assert [c.seed for c in trained] == [5, 5] and len(rows) == 2
    assert [c.out for c in trained] == [str(tmp_path / "grid" / f"dropout={v}" / "seed5") for v in (0.0, 0.2)]
    assert json.loads((tmp_path / "grid" / "grid.json").read_text())["seeds"] == [5]
    header = (tmp_path / "grid" / "summary.md").read_text().splitlines()[0]
    assert "seeds [5]" in header and "--seed" not in header  # not listed as a base setting the cells overrode


def test_a_dicts_seed_is_its_cells_seed_and_without_any_seed_the_cells_train_seed_0(tiny_npz, tmp_path,
                                                                                     monkeypatch):
    trained = _fake_training(monkeypatch)
    base = {"data": str(tiny_npz), "model": "resnet10_28_half", "epochs": 1, "batch_size": 32}
    compare({**base, "seed": "3"}, {"dropout": [0.0]}, None, tmp_path / "a", verbose=False)
    compare(base, {"dropout": [0.0]}, out=tmp_path / "b", verbose=False)  # the command line's default --seeds 1
    compare(_config(tiny_npz, seed=3), {"dropout": [0.0]}, [3], tmp_path / "c", verbose=False)  # the same seed
    assert [c.seed for c in trained] == [3, 0, 3]


@pytest.mark.parametrize("base", ["config", "dict"])
def test_a_base_seed_beside_other_seeds_is_one_line_before_anything_is_written(tiny_npz, tmp_path, monkeypatch,
                                                                               base):
    trained = _fake_training(monkeypatch)
    given = _config(tiny_npz, seed=5) if base == "config" else {"data": str(tiny_npz), "epochs": 1, "seed": 5}
    for seeds in ([0], [0, 1], [5, 6]):
        with pytest.raises(MedtrainError, match=rf"^base seed 5 and seeds {re.escape(str(seeds))}: every cell trains "
                                                r"the seeds of seeds, so the base's seed would be ignored; .* to train "
                                                r"seed 5$"):
            compare(given, {"dropout": [0.0, 0.2]}, seeds, tmp_path / "grid", verbose=False)
    assert not trained and not (tmp_path / "grid").exists()


def test_a_comparison_without_its_folder_is_one_line(tiny_npz, tmp_path, monkeypatch):
    trained = _fake_training(monkeypatch)
    with pytest.raises(MedtrainError, match=r"^out must be the grid's folder, a path; got NoneType None$"):
        compare({"data": str(tiny_npz)}, {"dropout": [0.0]}, [0], verbose=False)
    assert not trained


def test_a_config_bases_derived_transfer_is_not_taken_as_typed(tmp_path):
    """``compare(Config(pretrained=...), {"transfer": [...]})`` had been refused ("transfer is both varied and given
    as --transfer finetune"): the base was read from the resolved Config, whose transfer resolving derives from
    pretrained; the dict of the same settings was not. Both now give the same base: the settings as given."""
    from medtrain.config.settings import base_settings

    settings = {"data": str(tmp_path / "d.npz"), "pretrained": str(tmp_path / "src"), "epochs": 1}
    import medtrain.compare as compare_mod

    base, typed = compare_mod._arguments(Config(**settings), {"transfer": ["finetune", "scratch"]}, [0],
                                         tmp_path / "out", False)[:2]
    assert "transfer" not in base and base == base_settings(settings)[0] and typed == {}
