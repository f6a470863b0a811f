"""A comparison's or a cross-validation's --out inside the image folder it trains on (or the folder a CSV's images
lie in) is refused in one line naming that --out, before any cell or fold prints its line or writes anything: the
refusal had come from the first cell's run, naming the cell's folder after its line was printed (walk 'audit')."""
from __future__ import annotations

import pytest

from conftest import make_images, png_csv, run_cli


@pytest.mark.parametrize("command", [["compare", "--vary", "lr=0.01,0.001"], ["train", "--folds", "2"]])
@pytest.mark.parametrize("listed", [False, True])
def test_a_grid_or_cv_folder_inside_the_data_is_refused_as_its_out(tmp_path, capsys, command, listed):
    images, labels = make_images(16)
    png_csv(tmp_path / "png", images, labels, ("benign", "malignant"), path="{label}/{i}.png", name=None)
    data = png_csv(tmp_path, images, labels, ("benign", "malignant"), path="png/{label}/{i}.png") if listed \
        else tmp_path / "png"
    out = tmp_path / "png" / "cmp"
    code, stdout, err = run_cli(capsys, *command, "--data", data, "--epochs", "1", "--out", out)
    assert code == 2 and stdout == "" and err.count("\n") == 1, (stdout, err)
    assert err.startswith(f"medtrain: error: --out {out} is inside ") and not out.exists()
