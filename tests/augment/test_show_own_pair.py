"""``medtrain augment show`` of a mixing op names the pairing with its number computed (the title had read "rows i
and 4 + 1 - i are mixed" for ``--n 4``), and over an odd number of rows says that the middle row, which the pairing
``i`` with ``N + 1 - i`` maps onto itself, stays unmixed (``--n 1``: the one row); the title had said every row is
mixed. ``--mixup-alpha 0`` (or ``--cutmix-alpha 0``) names the one setting given, with its value: it had said
"cutmix_alpha and mixup_alpha must be > 0". (The pairing's number had its own file with a copy of these helpers.)"""
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


@pytest.fixture
def titles(monkeypatch):
    """The titles the grids were given (``Figure.suptitle``), in order."""
    got = []
    suptitle = Figure.suptitle

    def spy(self, t, *a, **k):
        got.append(t)
        return suptitle(self, t, *a, **k)

    monkeypatch.setattr(Figure, "suptitle", spy)
    return got


def _show(capsys, tmp_path, data, *flags):
    code, out, err = run_cli(capsys, "augment", "show", "--data", data, "--draws", "1", "--out",
                             tmp_path / "g.png", *flags)
    assert code == 0, err
    return out


@pytest.mark.parametrize("op, n, pair", [("mixup", 4, 5), ("cutmix", 6, 7)])
def test_the_title_names_the_computed_partner_row(capsys, tmp_path, data, titles, op, n, pair):
    _show(capsys, tmp_path, data, "--augment", op, "--n", str(n))
    title = " ".join(titles[-1].split())
    assert f"rows i and {pair} - i are mixed" in title and "+ 1 - i" not in title


@pytest.mark.parametrize("op", ["mixup", "cutmix"])
def test_the_middle_of_an_odd_number_of_rows_is_said_to_stay_unmixed(capsys, tmp_path, data, titles, op):
    _show(capsys, tmp_path, data, "--augment", op, "--n", "3")
    assert "row 2, the middle one, is its own pair: it stays unmixed" in " ".join(titles[-1].split())


def test_one_row_is_said_to_stay_unmixed(capsys, tmp_path, data, titles):
    _show(capsys, tmp_path, data, "--augment", "mixup", "--n", "1")
    assert "the one row is its own pair: it stays unmixed" in " ".join(titles[-1].split())


@pytest.mark.parametrize("flags", [("--augment", "mixup", "--n", "4"), ("--augment", "flip", "--n", "3")])
def test_an_even_number_of_rows_or_no_mixing_says_nothing_of_it(capsys, tmp_path, data, titles, flags):
    _show(capsys, tmp_path, data, *flags)
    assert "own pair" not in titles[-1]


@pytest.mark.parametrize("flag, other", [("--mixup-alpha", "cutmix_alpha"), ("--cutmix-alpha", "mixup_alpha")])
def test_an_alpha_of_0_names_the_one_flag_given(capsys, tmp_path, data, flag, other):
    op = "mixup" if flag == "--mixup-alpha" else "cutmix"
    code, out, err = run_cli(capsys, "augment", "show", "--data", data, "--augment", op, flag, "0",
                             "--out", tmp_path / "g.png")
    name = flag[2:].replace("-", "_")
    assert code == 2 and err == f"medtrain: error: {name} must be > 0, got 0.0\n", err
    assert other not in err and not (tmp_path / "g.png").exists()
