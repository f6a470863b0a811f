"""predict's --out named for the other format is refused before the run is loaded: ``--json --out p.csv`` had
written JSON into a .csv name (a bad-input walk). Other names are written as asked."""
import pytest
from conftest import run_cli


@pytest.mark.parametrize("flags, line", [
    (["--json", "--out", "p.csv"], "--out p.csv: predict writes JSON (--json), not CSV; give a name ending in .json"),
    (["--out", "p.JSON"], "--out p.JSON: predict writes CSV (without --json), not JSON; give a name ending in .csv, "
                          "or add --json"),
])
def test_an_out_named_for_the_other_format_is_one_line_before_the_run_is_read(tmp_path, capsys, monkeypatch, flags,
                                                                               line):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "predict", tmp_path / "no-such-run", "x.png", *flags)
    assert code == 2 and out == "" and err.strip().splitlines() == [f"medtrain: error: {line}"]
    assert list(tmp_path.iterdir()) == []
