"""``augment search`` whose work folder is a file (``--work-dir FILE``, a path under a file, or the default
``OUT-search`` taken by a file) is refused in one line, exit 2, before anything is written: its mkdir had ended
the search in a FileExistsError (or NotADirectoryError) traceback."""
from __future__ import annotations

import pytest

import medtrain.api
from medtrain.cli import main

METHODS = [["--method", "autoaugment", "--trials", "1"], ["--n-values", "1", "--m-values", "3"]]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("where, said", [("file", "is a file"), ("file/sub", "lies under"), (None, "is a file")])
def test_a_work_folder_that_is_a_file_is_refused_in_one_line_before_anything_is_written(
        tiny_npz, tmp_path, monkeypatch, capsys, method, where, said):
    monkeypatch.setattr(medtrain.api, "train", lambda *a, **k: pytest.fail("trained"))
    blocker = tmp_path / ("file" if where else "policy-search")
    blocker.write_text("not a folder\n")
    flags = ["--work-dir", str(tmp_path / where)] if where else []
    before = sorted(tmp_path.iterdir())
    assert main(["augment", "search", "--data", str(tiny_npz), "--budget-epochs", "1", *method, *flags,
                 "--out", str(tmp_path / "policy.yaml")]) == 2
    err = capsys.readouterr().err
    assert said in err and "a folder" in err and err.count("\n") == 1 and "Traceback" not in err
    assert sorted(tmp_path.iterdir()) == before and blocker.read_text() == "not a folder\n"
