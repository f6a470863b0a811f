"""The same settings given again on a run from before the run format (format 0) through Python, as through the CLI
(tests/rundir/test_run_format.py): a setting not given whose default changed since the run was written, recorded
by the run at that old default, is named as a default changed since and the run keeps it; it is not the user's
change. ``medtrain.train(dict)`` and compare's reuse (``train_or_reuse``) had refused the run as one of other
settings ("precision: '32-true', now 'auto'")."""
import json
import shutil

import pytest

import medtrain
from medtrain.api import train_or_reuse
from conftest import fast_config, make_npz
from test_run_format import as_format_0

pytestmark = pytest.mark.usefixtures("one_thread")

NOTE = "a default changed since this run was written"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished 1-epoch run that recorded precision 32-true (the default before 2026-12-02), as format 0 ("old")
    and as today's format ("new"), and the settings that trained it less precision."""
    root = tmp_path_factory.mktemp("format0")
    data = make_npz(root / "tiny.npz", sizes=(64, 16, 16))
    given = fast_config(data, root / "new", epochs=1, bootstrap=0)
    medtrain.train(given, verbose=False)
    shutil.copytree(root / "new", root / "old")
    as_format_0(root / "old")
    untyped = {k: v for k, v in given.items() if k not in ("precision", "out")}
    return root, untyped


def test_train_given_the_same_dict_again_on_a_format_0_run_keeps_its_old_default(runs, capsys):
    root, untyped = runs
    old = root / "old"
    before = (old / "metrics.json").read_text()
    m = medtrain.train({**untyped, "out": str(old)})
    out, err = capsys.readouterr()
    assert "already finished" in out
    assert m == json.loads(before) and m.run_dir == old.absolute()  # the run returned as it is, not retrained
    assert (old / "metrics.json").read_text() == before
    notes = [line for line in err.splitlines() if NOTE in line]
    assert len(notes) == 1 and "precision: '32-true' then, 'auto' now" in notes[0] and "run format 0" in notes[0]
    # typed, today's default is the user's change, as the CLI's --precision auto is
    with pytest.raises(medtrain.MedtrainError, match=r"other settings \(precision: '32-true', now 'auto'\)"):
        medtrain.train({**untyped, "precision": "auto", "out": str(old)}, verbose=False)
    # a run of today's format recording 32-true was given it: without it, it is another setting
    with pytest.raises(medtrain.MedtrainError, match=r"other settings \(precision: '32-true', now 'auto'\)"):
        medtrain.train({**untyped, "out": str(root / "new")}, verbose=False)


def test_compare_reuses_a_format_0_cell_whose_only_difference_is_a_changed_default(runs, capsys):
    root, untyped = runs
    old = root / "old"
    before = (old / "metrics.json").read_text()
    assert train_or_reuse({**untyped, "out": str(old)}) == json.loads(before)
    assert (old / "metrics.json").read_text() == before
    with pytest.raises(medtrain.MedtrainError, match="other settings"):
        train_or_reuse({**untyped, "out": str(root / "new")})
