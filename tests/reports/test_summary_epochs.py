"""compare's summary.md: a kept or stop epoch that every seed of a cell shares is that epoch ("kept epoch 1"),
not a mean ("1.0"); epochs that differ between seeds are their mean with one decimal."""
from __future__ import annotations

from medtrain.reports.tables import summarise, to_markdown


def _run(seed: int, best: int, stop: int) -> dict:  # 0-based, as metrics.json holds them
    return {"seed": seed, "test": {"auc": 0.8, "acc": 0.7}, "val": {"auc": 0.75}, "best_epoch": best,
            "stop_epoch": stop, "wall_s": 1.0}


def _cells(md: str, row: int) -> dict:
    lines = md.splitlines()
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    return dict(zip(head, (c.strip() for c in lines[2 + row].strip("|").split("|"))))


def test_a_one_seed_cell_shows_kept_epoch_1():
    md = to_markdown(summarise([{"cell": {"dropout": "0"}, "runs": [_run(0, 0, 0)]}]), ["dropout"])
    row = _cells(md, 0)
    assert row["kept epoch"] == "1" and row["stop epoch"] == "1", md


def test_seeds_sharing_an_epoch_show_it_and_differing_seeds_their_mean():
    cells = [{"cell": {"dropout": "0"}, "runs": [_run(0, 4, 9), _run(1, 4, 9)]},
             {"cell": {"dropout": "0.5"}, "runs": [_run(0, 2, 9), _run(1, 3, 9)]}]
    md = to_markdown(summarise(cells), ["dropout"])
    same, differ = _cells(md, 0), _cells(md, 1)
    assert same["kept epoch"] == "5 ± 0" and same["stop epoch"] == "10 ± 0", md
    assert differ["kept epoch"] == "3.5 ± 0.7" and differ["stop epoch"] == "10 ± 0", md
