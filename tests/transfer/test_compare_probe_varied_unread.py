"""A ``compare`` grid of linear probes that varies a setting a probe never reads (``--transfer linear-probe --vary
flip=true,false``) is refused before anything is written, in the one line ``train --transfer linear-probe --flip
false`` gives (:func:`medtrain.config.checks.check_probe_read`): each cell had been checked without the probe check
and two probes that ignore the flag were trained as if they differed."""
from __future__ import annotations

import pytest

import medtrain.compare
from conftest import make_npz, run_cli
from medtrain.config import check_read, resolve
from medtrain.errors import MedtrainError

PROBE = ["--pretrained", "timm:resnet18", "--transfer", "linear-probe"]


class Trained(Exception):
    """Raised where compare would train a cell: the grid got past its checks."""


@pytest.fixture
def no_training(monkeypatch):
    def refuse(cfg):
        raise Trained(cfg.transfer)

    monkeypatch.setattr(medtrain.compare, "train_or_reuse", refuse)


def _train_line(flags: dict) -> str:
    with pytest.raises(MedtrainError) as e:
        check_read(resolve({"dataset": "breastmnist", "pretrained": "SRC", "transfer": "linear-probe"}, flags), flags)
    return str(e.value)


@pytest.mark.parametrize("vary, flag", [("flip=true,false", {"flip": "false"}),
                                        ("class_weights=false,true", {"class_weights": "true"})])
def test_compare_refuses_a_varied_setting_no_probe_reads_as_train_does(tmp_path, capsys, no_training, vary, flag):
    data = make_npz(tmp_path / "tiny.npz", sizes=(24, 8, 8))
    code, _, err = run_cli(capsys, "compare", "--data", data, *PROBE, "--vary", vary, "--out", tmp_path / "grid")
    assert code == 2 and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines == [f"medtrain: error: {_train_line(flag)}"]
    assert not (tmp_path / "grid").exists()  # nothing written, not even grid.json


def test_the_python_api_compare_refuses_it_too(tmp_path, no_training):
    data = make_npz(tmp_path / "tiny.npz", sizes=(24, 8, 8))
    base = {"data": str(data), "pretrained": "timm:resnet18", "transfer": "linear-probe"}
    with pytest.raises(MedtrainError) as e:
        medtrain.compare.compare(base, {"flip": [True, False]}, out=tmp_path / "grid", verbose=False)
    assert str(e.value) == _train_line({"flip": "false"})
    assert not (tmp_path / "grid").exists()


def test_a_varied_setting_a_probe_reads_still_reaches_training(tmp_path, capsys, no_training):
    data = make_npz(tmp_path / "tiny.npz", sizes=(24, 8, 8))
    with pytest.raises(Trained):
        run_cli(capsys, "compare", "--data", data, *PROBE, "--vary", "probe_classifier=logreg,svm",
                "--out", tmp_path / "grid")
