"""``augment search`` whose work folder is a file (``--work-dir FILE``, a path under a file, or the default
``OUT-search`` taken by a file) is refused in one line, exit 2, before anything is written: its mkdir had ended
the search in a FileExistsError (or NotADirectoryError) traceback. A folder that cannot be written in is refused alike
(medtrain._io.check_output probes it), and an empty ``--work-dir ""`` rather than read as the default."""
from __future__ import annotations

import pytest

import medtrain.api
from medtrain.cli import main

METHODS = [["--method", "autoaugment", "--trials", "1"], ["--n-values", "1", "--m-values", "3"]]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("where, said", [("file", "--work-dir {w}: exists and is not a folder"),
                                         ("file/sub", "--work-dir {w}: {b} is a file, not a folder"),
                                         (None, "the work folder (named after --out; choose another with --work-dir)"
                                                " {b}: exists and is not a folder")])
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
    said = said.format(w=tmp_path / (where or ""), b=blocker)
    assert err.startswith("medtrain: error: " + said) and err.count("\n") == 1 and "Traceback" not in err
    assert sorted(tmp_path.iterdir()) == before and blocker.read_text() == "not a folder\n"


@pytest.mark.parametrize("method", METHODS)
def test_a_work_folder_that_cannot_be_written_in_is_refused_in_one_line(tiny_npz, tmp_path, monkeypatch, capsys,
                                                                        method):
    """/proc refuses new files (as a read-only or immutable folder refuses root): its mkdir had ended both methods
    in a FileNotFoundError traceback, after the data was read."""
    monkeypatch.setattr(medtrain.api, "train", lambda *a, **k: pytest.fail("trained"))
    assert main(["augment", "search", "--data", str(tiny_npz), "--budget-epochs", "1", *method,
                 "--work-dir", "/proc/medtrain-work", "--out", str(tmp_path / "policy.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("medtrain: error: --work-dir /proc/medtrain-work: cannot write in /proc")
    assert err.count("\n") == 1 and list(tmp_path.iterdir()) == [tiny_npz]


@pytest.mark.parametrize("method", METHODS)
def test_an_empty_work_dir_is_refused_not_read_as_the_default(tiny_npz, tmp_path, monkeypatch, capsys, method):
    monkeypatch.setattr(medtrain.api, "train", lambda *a, **k: pytest.fail("trained"))
    assert main(["augment", "search", "--data", str(tiny_npz), "--budget-epochs", "1", *method,
                 "--work-dir", "", "--out", str(tmp_path / "policy.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("medtrain: error: --work-dir is empty;") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == [tiny_npz]  # no policy-search folder made
