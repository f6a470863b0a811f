"""A probe's C grid keeps an undefined validation score undefined (None in metrics.json, 'undefined' in its note),
not the sentinel -1.0 its note had printed as 'scored the same on validation (val_auc -1.0000)'; and the note
names the score the probe computed (its AUC under --monitor val_loss, which it had labelled 'val_loss')."""
from __future__ import annotations

import json

import numpy as np

from medtrain.training.probe import fit_linear, grid_note

CS = (0.01, 0.1, 1.0)


def _codes(val_labels):
    rng = np.random.default_rng(0)
    ytr = np.array([0, 1] * 20)
    codes = {"train": rng.normal(size=(40, 4)) + ytr[:, None], "val": rng.normal(size=(len(val_labels), 4))}
    return codes, {"train": ytr, "val": np.asarray(val_labels)}


def test_a_validation_split_of_one_class_leaves_every_probe_score_undefined():
    codes, labels = _codes([1] * 10)  # no 0 in validation: an AUC is undefined
    _, _, C, table = fit_linear(codes, labels, "binary-class", Cs=CS)
    assert table == {c: None for c in CS}
    assert json.loads(json.dumps({f"{c:g}": v for c, v in table.items()}))["0.1"] is None  # null in metrics.json
    assert C == min(CS)  # the tie rule's
    note = grid_note(C, table, "val_auc")
    assert "undefined" in note and "-1" not in note and "scored the same" not in note
    assert "val_auc" in note and "C=0.01" in note


def test_the_note_names_the_score_the_probe_computed_not_the_monitor_given():
    codes, labels = _codes([0, 1] * 5)
    _, _, C, table = fit_linear(codes, labels, "binary-class", Cs=CS, monitor="val_loss")
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in table.values())  # AUCs
    tied = {c: 0.75 for c in CS}
    note = grid_note(min(CS), tied, "val_loss")
    assert "val_auc 0.7500" in note and "val_loss" not in note
    assert "val_acc 0.7500" in grid_note(min(CS), tied, "val_acc")
