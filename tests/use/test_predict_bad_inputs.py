"""``medtrain predict`` of inputs it cannot take as they are: a bad input is one line and exit 2 (or skipped
with --skip-bad), nothing to predict is an error, hidden files are not inputs, and a picture of another aspect
ratio is predicted with one notice."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bad_inputs import bad_item
from conftest import run_cli
from medtrain.cli import main
from test_predict import _cli, _read, _write_pngs  # the predict tests' helpers


def test_folder_inputs_skip_hidden_files_and_folders(trained_run, tmp_path, capsys):
    """Jupyter's .ipynb_checkpoints copies and macOS's ._name files are not inputs (nor training data)."""
    run, _, arrays = trained_run
    _write_pngs(tmp_path / "d", arrays["test_images"][:2])
    _write_pngs(tmp_path / "d" / ".ipynb_checkpoints", arrays["test_images"][:1])
    (tmp_path / "d" / "._000.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble resource fork")
    code, out, _ = _cli(capsys, "predict", run, tmp_path / "d", "--out", tmp_path / "p.csv")
    assert code == 0 and "2 input(s)" in out
    assert [r["input"] for r in _read(tmp_path / "p.csv")] == [str(tmp_path / "d" / f"00{i}.png") for i in (0, 1)]


@pytest.mark.parametrize("case", ["not_a_run", "rgb", "volume", "corrupt", "missing"])
def test_bad_input_is_one_line_and_exit_2(trained_run, tmp_path, capsys, case):
    run, _, arrays = trained_run
    bad = tmp_path / "bad"
    bad.mkdir()
    target = run
    if case == "not_a_run":
        target, item = tmp_path, bad
        Image.fromarray(arrays["test_images"][0]).save(bad / "ok.png")
    elif case in ("rgb", "volume", "corrupt"):
        item = bad_item(case, arrays["test_images"][0], bad)
    else:
        item = bad / "nothing.png"
    out = tmp_path / "p.csv"
    code, _, err = _cli(capsys, "predict", target, item, "--out", out)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("medtrain: error:")
    assert not out.exists()  # nothing half-written
    assert {"not_a_run": "not a finished run", "rgb": "channel", "volume": "dimensionality", "corrupt": "cannot read",
            "missing": "no such file"}[case] in err


def test_skip_bad_lists_and_skips(trained_run, tmp_path, capsys):
    run, _, arrays = trained_run
    _write_pngs(tmp_path / "d", arrays["test_images"][:3])
    (tmp_path / "d" / "001.png").write_bytes(b"garbage")
    code, out, err = _cli(capsys, "predict", run, tmp_path / "d", "--skip-bad", "--out", tmp_path / "p.csv")
    assert code == 0 and "2 input(s)" in out and "(1 skipped)" in out
    assert "skipped" in err and "001.png" in err
    Image.fromarray(np.full((16, 16, 3), (200, 10, 10), np.uint8)).save(tmp_path / "d" / "001.png")  # colour, grey run
    code, _, err = _cli(capsys, "predict", run, tmp_path / "d", "--skip-bad", "--out", tmp_path / "p.csv")
    bad = str(tmp_path / "d" / "001.png")
    assert code == 0 and f"skipped {bad}: a colour image" in err  # the name once ("0: 0: 3 channel(s)" before)
    assert [r["input"][-7:] for r in _read(tmp_path / "p.csv")] == ["000.png", "002.png"]


def test_a_folder_of_macos_shadow_files_is_not_a_dicom_series(tmp_path):
    from medtrain.predict_inputs import _is_series

    (tmp_path / "._slice1.dcm").write_bytes(b"\x00\x05\x16\x07")  # AppleDouble metadata, not DICOM
    assert not _is_series(tmp_path)
    (tmp_path / "slice1.dcm").write_bytes(b"")
    assert _is_series(tmp_path)


@pytest.mark.parametrize("text, message", [
    ("filename,label\nimgs/000.png,a\n", "row 1 (filename,label) looks like a header; name the column of paths 'path'"),
    ("path;label\nimgs/000.png;a\n", "row 1 is one column separated by ';'"),
])
def test_a_csv_of_paths_is_read_as_the_training_reader_reads_it(trained_run, tmp_path, capsys, text, message):
    run, _, arrays = trained_run
    _write_pngs(tmp_path / "imgs", arrays["test_images"][:1])
    (tmp_path / "list.csv").write_text(text)
    code, _, err = _cli(capsys, "predict", run, tmp_path / "list.csv", "--out", tmp_path / "p.csv")
    assert code == 2 and message in err and not (tmp_path / "p.csv").exists()
    (tmp_path / "ok.csv").write_text("# exported by the PACS\nimgs/000.png\n")  # a comment row is not a file
    code, out, _ = _cli(capsys, "predict", run, tmp_path / "ok.csv", "--out", tmp_path / "p.csv")
    assert code == 0 and "1 input(s) predicted" in out


def test_an_image_of_another_aspect_ratio_is_predicted_with_one_notice(trained_run, tmp_path, capsys):
    """A 16x24 picture for a 16x16 model is squashed as training resizes, and predict now says so (a user
    walkthrough found it done silently); square pictures of another size pass without a notice."""
    run, _, arrays = trained_run
    Image.fromarray(np.zeros((16, 24), np.uint8)).save(tmp_path / "wide.png")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "big.png")
    assert main(["predict", str(run), str(tmp_path / "wide.png"), str(tmp_path / "big.png"),
                 "--out", str(tmp_path / "p.csv")]) == 0
    err = capsys.readouterr().err
    assert "1 input(s) of another aspect ratio were squashed" in err and "24x16 squashed to 16x16" in err  # width x height, as training's errors
    assert err.count("\n") == 1


def test_inputs_holding_nothing_to_predict_are_an_error_not_an_empty_file(trained_run, tmp_path, capsys):
    run, _, _ = trained_run
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no images here")
    code, _, err = _cli(capsys, "predict", run, tmp_path / "notes", "--out", tmp_path / "p.csv")
    assert code == 2 and err.startswith("medtrain: error: nothing to predict") and err.count("\n") == 1
    (tmp_path / "bad.png").write_bytes(b"not a png")
    code, _, err = _cli(capsys, "predict", run, tmp_path / "bad.png", "--skip-bad", "--out", tmp_path / "p.csv")
    assert code == 2 and "no input could be predicted: all 1 skipped (first: " in err and err.count("\n") == 1
    assert not (tmp_path / "p.csv").exists()


def test_a_2d_npz_for_a_3d_run_is_named_a_dimensionality_mismatch(tmp_path, capsys):
    # it said "0: size 1x28x28, but the model takes 28x28x28", where a PNG gets the dimensionality message
    from medtrain.runmodel import untrained_run_model
    from medtrain.errors import MedtrainError
    from medtrain.predict_inputs import iter_inputs

    arrays = {f"{s}_images": np.zeros((2, 8, 8), np.uint8) for s in ("train", "val", "test")}
    arrays.update({f"{s}_labels": np.array([[0], [1]], np.int64) for s in ("train", "val", "test")})
    np.savez(tmp_path / "flat.npz", **arrays)
    run = untrained_run_model("med3d_resnet10", in_chans=1, num_classes=2, input_size=8, spatial_dims=3)
    with pytest.raises(MedtrainError, match=r"flat.npz: a 2D image has the wrong dimensionality; the model takes 3D"):
        list(iter_inputs([tmp_path / "flat.npz"], run))


@pytest.mark.parametrize("size", ["0", "-1"])
def test_a_batch_size_below_1_is_refused_naming_the_flag(trained_run, tmp_path, capsys, size):
    # "batch_size must be a whole number >= 1 or None, got 0": Python's terms for a flag (a deployment walk)
    run, _, _ = trained_run
    code, out, err = run_cli(capsys, "predict", run, run, "--batch-size", size, "--out", tmp_path / "p.csv")
    assert code == 2 and err == f"medtrain: error: --batch-size must be a whole number >= 1, got {size}\n"
    assert not (tmp_path / "p.csv").exists()
