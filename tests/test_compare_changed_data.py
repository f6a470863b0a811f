"""A comparison given again after its data file changed: every finished cell's data are checked before any cell
trains (a new cell had trained on the changed file beside cells of the old one, and then the grid was refused)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import fast_config, make_npz
from medtrain.compare import compare
from medtrain.errors import MedtrainError

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_finished_cell_on_changed_data_is_refused_before_a_new_cell_trains(tmp_path):
    data = make_npz(tmp_path / "tiny.npz", sizes=(48, 16, 16))
    base = {k: v for k, v in fast_config(data, tmp_path, epochs=1, bootstrap=0).items() if k != "out"}
    out = tmp_path / "cmp"
    compare(base, {"lr": ["0.01"]}, [0], out, verbose=False)
    arrays = dict(np.load(data))
    arrays["train_images"][0, 0, 0] ^= 1  # one pixel of one training image
    np.savez(data, **arrays)
    with pytest.raises(MedtrainError, match="not on these data"):
        compare(base, {"lr": ["0.05", "0.01"]}, [0], out, verbose=False)
    assert not (out / "lr=0.05").exists()  # nothing trained on the changed file


def test_a_finished_grid_reads_each_cells_data_once(tmp_path, monkeypatch):
    import medtrain.api
    import medtrain.compare

    data = make_npz(tmp_path / "tiny.npz", sizes=(48, 16, 16))
    base = {k: v for k, v in fast_config(data, tmp_path, epochs=1, bootstrap=0).items() if k != "out"}
    out = tmp_path / "cmp"
    compare(base, {"lr": ["0.01", "0.02"]}, [0], out, verbose=False)
    checked = []
    real = medtrain.compare.check_same_data
    for module in (medtrain.compare, medtrain.api):  # each loads the data and hashes every image
        monkeypatch.setattr(module, "check_same_data", lambda c, d: (checked.append(d), real(c, d))[1])
    compare(base, {"lr": ["0.01", "0.02"]}, [0], out, verbose=False)
    assert sorted(checked) == sorted([out / "lr=0.01" / "seed0", out / "lr=0.02" / "seed0"])  # had been twice each
