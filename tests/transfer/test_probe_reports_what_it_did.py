"""A linear probe's reports say what it did and nothing it did not (a transfer walk): its report.html had listed
settings it never read (epochs = 30, lr, augment, schedule) though train refuses them typed for a probe; a comparison
had shown probe cells as ``0.712 ± 0.000 | ... | 1 ± 0`` with p-values against them and no word that a probe is the
same for every seed; and a probe's C at an end of its grid (C=100, C=0.0001) had been reported without a remark."""
from __future__ import annotations

import html

import pytest
import torch

import medtrain
from medtrain.config.checks import PROBE_UNREAD
from medtrain.models import create_model
from medtrain.models.weights import save_weights
from medtrain.reports.html import write_comparison_report
from medtrain.reports.summary import SAME_PROBE
from medtrain.reports.tables import summarise, to_markdown
from medtrain.training.probe import grid_note


def _shown(page: str, key: str) -> bool:
    return f"<div>{key} <span>=</span>" in page


def test_a_probes_report_leaves_out_the_settings_it_never_read(tiny_npz, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    torch.manual_seed(0)
    w = tmp_path / "src.safetensors"
    save_weights(create_model("resnet10_28_half", in_chans=1, num_classes=2), w, {"model": "resnet10_28_half"})
    out = tmp_path / "probe"
    m = medtrain.train(dict(data=str(tiny_npz), model="resnet10_28_half", pretrained=str(w), transfer="linear-probe",
                            out=str(out), progress=False, bootstrap=0, accelerator="cpu"), verbose=True)
    printed = capsys.readouterr().out
    page = (out / "report.html").read_text()
    for key in ("epochs", "lr", "augment", "schedule", "optimizer", "batch_size", "flip"):
        assert key in PROBE_UNREAD and not _shown(page, key), key
    for key in ("transfer", "pretrained", "probe_classifier", "seed", "model"):  # what it read: shown
        assert _shown(page, key), key
    assert "settings a linear probe never reads" in page
    assert "The probe's C, the temperature and the choices below were chosen on validation only" in html.unescape(page)
    assert "The selected epoch" not in page
    note = m["probe"]["C_note"]  # here C=0.0001, the grid's smallest, ties at val AUC 1.0 with 0.001
    assert note == grid_note(m["probe"]["C"], {float(c): v for c, v in m["probe"]["val_by_C"].items()})
    assert note is None or f"chosen on validation; {note}; " in printed  # the summary line says it


def test_a_trained_runs_report_still_lists_its_training_settings(tiny_npz):
    from medtrain.reports.html import run_report

    cfg = {"data": str(tiny_npz), "epochs": 3, "lr": 0.01, "augment": ["shift"], "transfer": "finetune"}
    page = run_report(cfg, {"val": {"auc": 0.5, "acc": 0.5}, "history": [{}], "best_epoch": 0, "stop_epoch": 0},
                      {})
    assert all(_shown(page, k) for k in ("epochs", "lr", "augment")) and "never reads" not in page


def test_a_probes_C_at_an_end_of_its_grid_is_said():
    grid = {1e-4: 0.60, 1e-2: 0.70, 1.0: 0.72, 100.0: 0.75}
    assert "C=100 is the largest of the grid 0.0001..100" in grid_note(100.0, grid)
    assert "C=0.0001 is the smallest" in grid_note(1e-4, {1e-4: 0.8, 1e-2: 0.7, 100.0: 0.6})
    assert grid_note(1.0, {1e-4: 0.6, 1.0: 0.8, 100.0: 0.7}) is None
    assert "every C of the grid 0.0001..100 scored the same" in grid_note(1e-4, {1e-4: 0.5, 1.0: 0.5, 100.0: 0.5})


def _run(seed: int, auc: float, probe: bool) -> dict:
    run = {"seed": seed, "test": {"acc": 0.7, "auc": auc}, "val": {"auc": auc, "acc": 0.7}, "best_epoch": 0,
           "stop_epoch": 0, "wall_s": 1.0}
    if probe:
        run["probe"] = {"C": 1.0, "seeds": SAME_PROBE}
    return run


@pytest.mark.parametrize("seeds", [2, 1])
def test_a_comparisons_probe_cells_get_one_note(tmp_path, seeds):
    cells = [{"cell": {"transfer": "scratch"}, "runs": [_run(s, 0.6 + 0.01 * s, False) for s in range(seeds)]},
             {"cell": {"transfer": "linear-probe"}, "runs": [_run(s, 0.71, True) for s in range(seeds)]}]
    md = to_markdown(summarise(cells), ["transfer"])
    page = write_comparison_report(tmp_path, ["transfer"], cells).read_text()
    if seeds == 1:  # one seed: nothing repeated to explain
        assert "Linear probes" not in md and "Linear probes" not in page
        return
    notes = [n for n in md.split("\n\n") if n.startswith("Linear probes")]
    assert len(notes) == 1 and notes[0].startswith("Linear probes: transfer=linear-probe. Every seed gives the same probe")
    assert "transfer=scratch" not in notes[0]
    assert "Linear probes: transfer=linear-probe." in page
