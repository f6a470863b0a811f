"""``tune`` and ``augment search`` refuse an accelerator train refuses (unknown, or a GPU this machine lacks) in
train's one line, exit 2, before anything is written: the flip pilots had started Lightning first (a 45-line
MisconfigurationException traceback, rc 1) and left ``OUT/study.db`` or an empty ``p-search/`` behind."""
from __future__ import annotations

import pytest
import torch

from conftest import run_cli

BAD = ["bogus"] + ([] if torch.cuda.is_available() else ["gpu"])


@pytest.mark.parametrize("accel", BAD)
def test_tune_refuses_accelerator_before_writing(tmp_path, tiny_npz, capsys, accel):
    out = tmp_path / "tn1"
    code, _, err = run_cli(capsys, "tune", "--data", tiny_npz, "--model", "resnet10_28_half", "--epochs", 1,
                           "--trials", 1, "--accelerator", accel, "--out", out)
    assert code == 2
    assert "Traceback" not in err and "accelerator" in err
    assert len(err.strip().splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.parametrize("method", ["randaugment", "autoaugment"])
@pytest.mark.parametrize("accel", BAD)
def test_augment_search_refuses_accelerator_before_writing(tmp_path, tiny_npz, capsys, accel, method):
    policy = tmp_path / "p.yaml"
    code, _, err = run_cli(capsys, "augment", "search", "--data", tiny_npz, "--model", "resnet10_28_half",
                           "--budget-epochs", 1, "--method", method, "--accelerator", accel, "--out", policy)
    assert code == 2
    assert "Traceback" not in err and "accelerator" in err
    assert len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != tiny_npz.name) == []
