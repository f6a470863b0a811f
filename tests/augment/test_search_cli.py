"""`medtrain augment search` on the command line: bad input is one line, exit 2, and leaves no folder; each
--method refuses the other's flags (a user walkthrough)."""
from __future__ import annotations

import pytest

import medtrain.api
from medtrain.cli import main


@pytest.mark.parametrize("extra, message", [
    (["--budget-epochs", "0"], "--budget-epochs must be an integer >= 1"),
    (["--budget-epochs", "1", "--n-values", "0"], "grid N values must be integers >= 1"),
    (["--budget-epochs", "1", "--m-values", "11"], "grid M values must be in [0, 10]"),
    (["--budget-epochs", "1", "--n-values", ","], "at least one N and one M value"),
])
def test_a_bad_grid_or_budget_leaves_no_work_folder(tiny_npz, tmp_path, monkeypatch, capsys, extra, message):
    """Each gave one error line but left an empty <out>-search/ folder."""
    monkeypatch.setattr(medtrain.api, "train", lambda *a, **k: pytest.fail("trained"))
    out = tmp_path / "policy.yaml"
    assert main(["augment", "search", "--data", str(tiny_npz), *extra, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == [tiny_npz]


@pytest.mark.parametrize("flag", [["--n-values", "1,2"], ["--m-values", "3"], ["--no-baseline"]])
def test_autoaugment_search_refuses_the_flags_of_the_randaugment_grid(tiny_npz, tmp_path, monkeypatch, capsys,
                                                                      flag):
    """They were silently ignored (the RandAugment grid refuses the AutoAugment search's flags)."""
    monkeypatch.setattr(medtrain.api, "train", lambda *a, **k: pytest.fail("trained"))
    out = tmp_path / "policy.yaml"
    assert main(["augment", "search", "--data", str(tiny_npz), "--method", "autoaugment", "--budget-epochs", "1",
                 "--trials", "1", *flag, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{flag[0]} applies to --method randaugment" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == [tiny_npz]


@pytest.mark.parametrize("flag", [["--sub-policies", "5"], ["--study-name", "autoaugment"]])
def test_the_randaugment_grid_refuses_the_search_flags_even_at_their_default(tiny_npz, tmp_path, monkeypatch, capsys,
                                                                            flag):
    # their default values had been accepted and ignored, where the other method refuses its flags when given
    monkeypatch.setattr(medtrain.api, "train", lambda *a, **k: pytest.fail("trained"))
    assert main(["augment", "search", "--data", str(tiny_npz), "--budget-epochs", "1", *flag,
                 "--out", str(tmp_path / "policy.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"{flag[0]} applies to --method autoaugment" in err and err.count("\n") == 1


@pytest.mark.parametrize("method", ["randaugment", "autoaugment"])
def test_a_policy_out_without_a_yaml_name_is_refused_before_anything_trains(tiny_npz, tmp_path, monkeypatch, capsys,
                                                                           method):
    """--out as (no extension) wrote a policy whose printed command failed: --augment took 'as' for an unknown op."""
    monkeypatch.setattr(medtrain.api, "train", lambda *a, **k: pytest.fail("trained"))
    assert main(["augment", "search", "--data", str(tiny_npz), "--method", method, "--budget-epochs", "1",
                 "--out", str(tmp_path / "as")]) == 2
    err = capsys.readouterr().err
    assert "ending in .yaml" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == [tiny_npz]
