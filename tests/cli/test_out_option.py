"""--out of the wrong kind (a file where a folder goes, a folder where a file goes) is one error line, exit 2,
before any work: it was a traceback at the end of the work (found by trying a user's mistakes by hand)."""
from __future__ import annotations

import pytest

from medtrain.cli import main


@pytest.mark.parametrize("argv, target, message", [
    (["train", "--data", "x.npz", "--epochs", "1"], "a_file", "--out {}: exists and is not a folder"),
    (["compare", "--data", "x.npz", "--vary", "dropout=0"], "a_file", "--out {}: exists and is not a folder"),
    (["tune", "--data", "x.npz", "--trials", "1"], "a_file", "--out {}: exists and is not a folder"),
    (["explain", "no_run"], "a_file", "--out {}: exists and is not a folder"),
    (["train", "--data", "x.npz"], "a_file/run", "--out {}: {} is a file, not a folder"),
    (["predict", "no_run", "img.png"], "a_dir", "--out {}: is a folder; give a file name"),
    (["export", "no_run"], "a_dir", "--out {}: is a folder; give a file name"),
    (["augment", "show", "--data", "x.npz", "--augment", "flip"], "a_dir", "--out {}: is a folder; give a file name"),
])
def test_out_of_the_wrong_kind_is_refused_before_anything_runs(tmp_path, capsys, argv, target, message):
    (tmp_path / "a_file").write_text("keep me")
    (tmp_path / "a_dir").mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    out = tmp_path / target
    assert main(argv + ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    parent = tmp_path / target.split("/")[0]
    assert err.strip() == "medtrain: error: " + message.format(out, parent)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before and (tmp_path / "a_file").read_text() == "keep me"


@pytest.mark.parametrize("argv, message", [
    (["train", "--augment"], "argument --augment: expected one argument (see `medtrain train --help`)"),
    (["export", "run", "--format", "tflite"], "unknown value 'tflite'; choose from: onnx, torchscript"),
    (["frobnicate"], "unknown command 'frobnicate'"),
])
def test_a_command_line_argparse_refuses_is_one_line_too(capsys, argv, message):
    """argparse printed its usage text before the error: 27 lines for `train --augment` without a value."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and err.startswith("medtrain: error: ") and message in err
