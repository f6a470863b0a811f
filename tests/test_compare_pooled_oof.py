"""A comparison's cross-validated cells say their pooled out-of-fold test AUC (each seed's held-out folds pooled, the
headline of ``medtrain train --folds``) under the tables, where the tables give the mean over fold runs: it had been
left out (an evidence walk)."""
import medtrain.compare as compare_mod
from medtrain.reports._table_notes import pooled_oof_note


def test_each_cross_validated_cell_says_its_pooled_auc_under_every_table(tmp_path, monkeypatch):
    oof = {(0, 0.0): 0.812, (1, 0.0): 0.794, (0, 0.5): 0.851, (1, 0.5): 0.833}

    def fake_cv(cfg, out, verbose):
        return {"held_out": "test", "oof": {"auc": oof[cfg.seed, float(cfg.dropout)], "auc_ci": [0.7, 0.9], "n": 90}}

    def fake_fold(path):
        fold = int(str(path).rsplit("fold", 1)[1])
        return {"seed": int(str(path).split("seed")[1][0]), "cv": {"folds": 3, "fold": fold, "held_out": "test"},
                "test": {"auc": 0.8, "acc": 0.7}, "val": {"auc": 0.75}, "best_epoch": 0, "stop_epoch": 1, "wall_s": 1.0}

    monkeypatch.setattr(compare_mod, "cross_validate", fake_cv)
    monkeypatch.setattr(compare_mod, "read_metrics", fake_fold)
    monkeypatch.setattr(compare_mod, "_check_augment_on_data", lambda cfgs: None)  # no data here
    # the paired difference of pooled predictions (tests/test_compare_pooled_pairs.py): one per seed of dropout=0.5
    paired = iter([{"auc": {"difference": 0.039, "difference_ci": [0.01, 0.07], "test": "DeLong", "p": 0.012}},
                   {"unpaired": "fold 1 held out other images"}])
    monkeypatch.setattr(compare_mod, "pooled_versus", lambda cell, first, held_out: next(paired))
    compare_mod.compare({"data": "x.npz", "folds": 3}, {"dropout": ["0", "0.5"]}, [0, 1], tmp_path, verbose=False)
    line = ("Pooled out-of-fold test AUC of the cross-validated cells (each seed's held-out folds pooled into one set of "
            "predictions, as medtrain train --folds reports it; the tables give the mean over fold runs; a cell after the "
            "first is paired with it image by image, its seeds dealing the same folds): dropout=0: mean 0.803 over 2 "
            "seeds (0.812, 0.794); dropout=0.5: mean 0.842 over 2 seeds (0.851, 0.833), against dropout=0 seed 0: "
            "+0.039 [+0.010, +0.070], DeLong p = 0.012; seed 1: not paired (fold 1 held out other images).")
    assert line in (tmp_path / "summary.md").read_text()
    assert line in (tmp_path / "summary.tex").read_text()
    assert line.replace("'", "&#39;") in (tmp_path / "report.html").read_text()


def test_one_seed_gives_its_interval_and_a_grid_without_folds_says_nothing():
    cells = [{"cell": {"lr": "0.1"}, "runs": [], "pooled_oof": [{"seed": 0, "folds": 5, "auc": 0.8, "auc_ci": [0.75, 0.85]}]},
             {"cell": {"lr": "0.01"}, "runs": []}]
    assert pooled_oof_note(cells, ["lr"]).endswith(": lr=0.1: 0.800 [0.750, 0.850] (seed 0, 5 folds).")
    assert pooled_oof_note(cells[1:], ["lr"]) == ""
