"""``augment show`` of a mixing op names the pairing with its number computed: the title had read
"rows i and 4 + 1 - i are mixed" for ``--n 4``."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from conftest import make_images, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def data(tmp_path):
    arrays = {}
    for split, seed in (("train", 0), ("val", 1), ("test", 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(8, seed=seed)
    np.savez(tmp_path / "d.npz", **arrays)
    return tmp_path / "d.npz"


@pytest.mark.parametrize("op, n, pair", [("mixup", 4, 5), ("cutmix", 6, 7)])
def test_the_title_names_the_computed_partner_row(capsys, tmp_path, data, monkeypatch, op, n, pair):
    titles, suptitle = [], Figure.suptitle
    monkeypatch.setattr(Figure, "suptitle", lambda self, t, *a, **k: (titles.append(t), suptitle(self, t, *a, **k))[1])
    code, _, err = run_cli(capsys, "augment", "show", "--data", data, "--draws", "1", "--out", tmp_path / "g.png",
                           "--augment", op, "--n", str(n))
    assert code == 0, err
    title = " ".join(titles[-1].split())
    assert f"rows i and {pair} - i are mixed" in title and "+ 1 - i" not in title
