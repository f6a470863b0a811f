"""compare's last line names where the cells' runs are: a grid without --vary has the one cell ``base`` (its line had
named ``KEY=V,...`` folders it does not have: a bad-input walk)."""
from pathlib import Path

from medtrain.cli.compare import closing


def test_a_grid_without_vary_names_its_base_folder_and_a_varied_one_its_key_folders(capsys):
    closing(Path("runs/cmp"), varied=False)
    assert capsys.readouterr().out.rstrip().endswith("in runs/cmp; its runs: runs/cmp/base/seedS")
    closing(Path("runs/cmp"))
    assert capsys.readouterr().out.rstrip().endswith("in runs/cmp; each cell's runs: runs/cmp/KEY=V,.../seedS")


def test_the_line_names_every_file_the_grid_writes_beside_its_cells(tmp_path, capsys):
    """grid.json, which compare writes and a rerun reads, was left out of the line (a claims walk)."""
    closing(tmp_path)
    named = capsys.readouterr().out.split(" in ", 1)[0].removeprefix("wrote ").replace(" and ", ", ").split(", ")
    assert named == ["summary.md", "summary.csv", "summary.tex", "report.html", "seeds.png", "grid.json"]
