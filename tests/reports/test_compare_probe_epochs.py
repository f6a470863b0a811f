"""A linear probe trains no epochs: its comparison cell's kept and stop epochs are "–", not the "1" and "1" its
metrics.json's placeholders had given (a transfer walk); a trained cell beside it keeps its epochs."""
from medtrain.reports.tables import summarise, to_markdown


def _run(seed: int, probe: bool) -> dict:
    return {"seed": seed, "test": {"acc": 0.8, "auc": 0.85}, "val": {"auc": 0.9}, "best_epoch": 0 if probe else 6,
            "stop_epoch": 0 if probe else 9, "wall_s": 3.0, **({"probe": {"layer": "head"}} if probe else {})}


def test_a_probe_cell_shows_no_epochs_and_a_trained_cell_its_own():
    cells = [{"cell": {"transfer": "finetune"}, "runs": [_run(0, False), _run(1, False)]},
             {"cell": {"transfer": "linear-probe"}, "runs": [_run(0, True), _run(1, True)]}]
    rows = {line.split(" | ")[0]: line.split(" | ") for line in to_markdown(summarise(cells), ["transfer"]).splitlines()
            if line.startswith("| finetune") or line.startswith("| linear-probe")}
    assert rows["| finetune"][5:7] == ["7 ± 0", "10 ± 0"]
    assert rows["| linear-probe"][5:7] == ["–", "–"]
