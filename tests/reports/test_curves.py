"""Study tables and overlaid learning curves from compare-style run directories (no training)."""
from __future__ import annotations

import json

import pytest

from medtrain.reports.curves import (best_cell, collect, marginal_markdown, overlay_curves, parse_cell, row, study_csv,
                                     study_markdown)


def _run(val_auc, test_auc, losses, best, stop, early):
    hist = [{"epoch": i, "train_loss": t, "val_loss": v, "val_auc": 0.5, "val_acc": 0.5, "lr": 1e-3}
            for i, (t, v) in enumerate(losses)]
    return {"history": hist, "best_epoch": best, "stop_epoch": stop, "early_stopped": early,
            "val": {"auc": val_auc, "acc": 0.7}, "test": {"auc": test_auc, "acc": 0.8}, "wall_s": 10.0}


def _write(root, group, cell, seed, metrics):
    d = root / group / cell / f"seed{seed}"
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture
def study(tmp_path):
    # "none": higher TEST AUC but lower VAL AUC -> best_cell must not pick it
    _write(tmp_path, "none", "early_stop=val_auc", 0, _run(0.70, 0.95, [(0.6, 0.7), (0.4, 0.8), (0.2, 0.9)], 0, 2, True))
    _write(tmp_path, "none", "early_stop=val_auc", 1, _run(0.72, 0.95, [(0.6, 0.7), (0.4, 0.7)], 1, 1, False))
    _write(tmp_path, "dropout", "early_stop=val_auc", 0, _run(0.80, 0.60, [(0.7, 0.6), (0.6, 0.55), (0.5, 0.6)], 1, 2, False))
    (tmp_path / "dropout" / "early_stop=val_auc" / "seed1").mkdir()  # unfinished: no metrics.json
    return tmp_path


def test_parse_cell():
    assert parse_cell("weight_decay=0,batch_norm=true") == {"weight_decay": "0", "batch_norm": "true"}
    assert parse_cell("augment=flip,shift,seed=1") == {"augment": "flip,shift", "seed": "1"}
    assert parse_cell("base") == {}


def test_collect_and_row(study):
    cells = collect(study)
    assert [(c["group"], c["cell"]["early_stop"], len(c["runs"])) for c in cells] == [
        ("dropout", "val_auc", 1), ("none", "val_auc", 2)]
    r = row(cells[1])
    # gap = last epoch val_loss - train_loss: seed0 0.9-0.2=0.7, seed1 0.7-0.4=0.3
    assert r["gap"] == pytest.approx(0.5) and r["gap_std"] == pytest.approx(0.2828427, rel=1e-5)
    assert r["stop_epoch"] == pytest.approx(2.5)  # 1-based: 3 and 2
    assert r["best_epoch"] == pytest.approx(1.5)
    assert r["early_stopped_n"] == 1 and r["seeds"] == 2
    assert r["val_auc"] == pytest.approx(0.71)


def test_best_cell_uses_validation_not_test(study):
    cells = collect(study)
    assert best_cell(cells)["group"] == "dropout"
    assert best_cell(cells, lambda c: c["group"] == "none")["group"] == "none"
    assert best_cell([], lambda c: True) is None


def test_tables(study):
    cells = collect(study)
    md = study_markdown(cells, ["technique", "early_stop"])
    assert "| none | val_auc | 2 |" in md and "0.500 ± 0.283" in md and "1/2" in md
    csv_text = study_csv(cells, ["technique", "early_stop"])
    head, first = csv_text.splitlines()[:2]
    assert head.startswith("technique,early_stop,seeds,test_acc,test_acc_std")
    assert first.startswith("dropout,val_auc,1,")


def test_marginal_pools_every_run_with_the_value(tmp_path):
    for wd, aucs in (("0", (0.6, 0.7)), ("1e-3", (0.8, 0.9))):
        for bn in ("true", "false"):
            for seed, auc in enumerate(aucs):
                _write(tmp_path, "none", f"weight_decay={wd},batch_norm={bn}", seed,
                       _run(0.5, auc, [(0.6, 0.7)], 0, 0, False))
    md = marginal_markdown(collect(tmp_path), "weight_decay")
    # weight_decay=0 pools both BN levels x 2 seeds: AUCs 0.6, 0.7, 0.6, 0.7 -> mean 0.65
    assert "| 0 | 4 | 0.800 ± 0.000 | 0.650 ± 0.058 |" in md
    assert "| 1e-3 | 4 | 0.800 ± 0.000 | 0.850 ± 0.058 |" in md
    assert "| none | 8 |" in marginal_markdown(collect(tmp_path), "technique")


def test_overlay_curves_writes_png(study, tmp_path):
    cells = collect(study)
    path = tmp_path / "fig" / "curves.png"
    info = overlay_curves(cells[1], cells[0], path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert info["none (early_stop=val_auc)"][0] == {"best_epoch": 1, "stop_epoch": 3, "early_stopped": True}


def test_replay_early_stop():
    from medtrain.reports.curves import replay_early_stop

    aucs = [0.5, 0.7, 0.6, 0.7, 0.65, 0.6, 0.55, 0.9, 0.8]
    hist = [{"epoch": i, "val_auc": a} for i, a in enumerate(aucs)]
    r = replay_early_stop(hist, patience=5)
    # best 0.7 at epoch 1 (a tie at 3 is no improvement); epochs 2..6 fail -> stop after epoch 6
    assert r == {"stop_epoch": 6, "best_epoch": 1, "stopped": True, "best_epoch_all": 7}
    r = replay_early_stop(hist, patience=6)
    assert r["stopped"] is False and r["stop_epoch"] == 8 and r["best_epoch"] == 7
    assert replay_early_stop([{"epoch": 0, "val_loss": 1.0}, {"epoch": 1, "val_loss": 0.5}], 1,
                             monitor="val_loss", mode="min")["best_epoch"] == 1


def test_reeval_columns(study):
    d = study / "none" / "early_stop=val_auc" / "seed0"
    (d / "eval_test.json").write_text(json.dumps({"acc": 0.5, "auc": 0.25}))
    (d / "eval_val.json").write_text(json.dumps({"acc": 0.5, "auc": 0.75}))
    cells = collect(study)
    r = row(cells[1])
    assert r["reeval_test_auc"] == pytest.approx(0.25) and r["reeval_val_auc"] == pytest.approx(0.75)
    md = study_markdown(cells, ["technique"])
    assert "re-eval test AUC" in md and "0.250 ± 0.000" in md and "| nan ± nan |" in md
