"""The configuration table of a run's report.html and of a cross-validation's, on fixture runs of each kind of data
(a MedMNIST set, an .npz, a folder, images given in memory, a volume CSV), with the ``auto`` settings training
resolved: what the table decides (:func:`medtrain.reports._html_settings.settings_shown`) is as it was before its two deciders
(``_run_report.settings_shown``, which wrote the ``auto (...)`` values, and ``reports.html.settings_read``, which left
out the settings these data did not read) became one. ``settings_table_golden.json`` holds, of the tables the code
wrote before, the entries decided or formatted here: each kind's ``size``, fractions and ``volume_size`` (shown or
left out: null), the ``auto`` settings with what they resolved to, and a list, a dict, a bool and an unset value as
rendered; every other setting is shown, whatever its default (the file had pinned every default's value, so that any
change of a default broke it)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from medtrain._run_report import REPORT_FILE, write_report
from medtrain.config import resolve
from medtrain.reports.html import write_crossval_report

GOLDEN = Path(__file__).with_name("settings_table_golden.json")
ARRAYS = "/home/u/.cache/medtrain/arrays/" + "ab" * 32 + "/arrays.npz"  # images given in memory, as written
RUNS = {  # name: (the run's settings over the defaults, its images' shape)
    "medmnist": ({"dataset": "breastmnist", "size": 64}, [1, 64, 64]),
    "npz": ({"data": "/d/own.npz", "folds": 3, "fold": 1}, [1, 28, 28]),
    "folder": ({"data": "/d/imgs", "image_size": 96, "val_fraction": 0.15}, [3, 96, 96]),
    "in_memory": ({"data": ARRAYS, "test_fraction": 0.25}, [1, 28, 28]),
    "volumes": ({"data": "/d/ct.csv", "volume_size": 32}, [1, 32, 32, 32]),
}
#: the settings the golden entries show, given (not their defaults, which may change)
GIVEN = {"size": 28, "val_fraction": 0.1, "test_fraction": 0.2, "volume_size": 64, "precision": "auto",
         "accelerator": "auto", "flip": "auto", "tta": "auto", "augment": ["flip", "shift"], "augment_params": {},
         "batch_norm": True, "batch_size": None}
#: the entries the golden file holds: those the table decides to show or leave out, or formats
DECIDED = tuple(GIVEN)
#: what training resolved: precision, the device and the choices made (flip on validation)
RESOLVED = {"precision": "bf16-mixed", "device": "cpu",
            "choices": {"flip": {"chosen": False, "how": "pilots"}, "tta": {"chosen": "hflip", "how": "pilots"}}}


def _metrics(shape) -> dict:
    data = {"source": "x", "task": "binary-class", "shape": list(shape), "classes": ["a", "b"],
            "splits": [{"name": s, "n": n, "counts": [n // 4, n - n // 4]} for s, n in (("train", 120), ("val", 30),
                                                                                      ("test", 40))]}
    return {"dataset": "x", "model": "resnet10_28_half", "seed": 0, "task": "binary-class", "best_epoch": 0,
            "stop_epoch": 0, "train_images_per_s": 2.4, "wall_s": 164.0, "monitor": "val_auc",
            "val": {"auc": 0.61, "acc": 0.7},
            "test": {"auc": 0.6312, "acc": 0.675, "auc_ci": [0.45, 0.8], "acc_ci": [0.55, 0.8], "n": 40},
            "calibration": {"temperature": 1.2, "test": {"ece": 0.1, "ece_scaled": 0.08}}, "data": data, **RESOLVED}


def _settings(html: str) -> list[list[str]]:
    """The configuration table's ``[key, value]`` entries, in order."""
    section = html.split("<h2>Configuration</h2>", 1)[1]
    return [list(kv) for kv in re.findall(r"<div>(\S+) <span>=</span> ([^<]*?)</div>", section)]


def tables(tmp_path: Path) -> dict:
    """Each fixture run's report and cross-validation page's configuration tables."""
    out = {}
    for name, (over, shape) in RUNS.items():
        config = resolve({**GIVEN, **over}).to_dict()
        run, cv = tmp_path / name / "run", tmp_path / name / "cv"
        run.mkdir(parents=True)
        cv.mkdir()
        write_report(run, config, _metrics(shape))
        folds = [{"fold": i, "auc": 0.8 + 0.01 * i, "acc": 0.7} for i in range(3)]
        page = write_crossval_report(cv, {"folds": folds, "pooled": {"auc": 0.81}, "config": config})
        out[name] = {"config": config, "run": _settings((run / REPORT_FILE).read_text()),
                     "crossval": _settings(page.read_text())}
    return out


@pytest.mark.parametrize("name", list(RUNS))
def test_the_configuration_tables_decide_as_they_did_before_the_deciders_became_one(tmp_path, name):
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))[name]
    got = tables(tmp_path)[name]
    for page in ("run", "crossval"):
        shown = dict(got[page])
        assert [k for k, _ in got[page]] == sorted(shown)  # in key order
        assert {k: shown.get(k) for k in DECIDED} == golden[page], page  # shown as before, or left out (None)
        left_out = {k for k in DECIDED if golden[page][k] is None}
        assert set(shown) == set(got["config"]) - left_out, page  # every other setting is shown
    run = dict(got["run"])
    assert run["precision"] == "auto (bf16-mixed)" and run["accelerator"] == "auto (cpu)" and run["flip"] == "auto (off)"


@pytest.mark.parametrize("tta, choice, said", [
    # training writes the report from the settings it ran with, the TTA already replaced by the one chosen
    ("none", {"chosen": "none", "how": "validation"}, "auto (none)"),
    ("hflip", {"chosen": "hflip", "how": "validation"}, "auto (hflip)"),
    ("none", {"chosen": "none", "how": "flips are off"}, "auto (none)"),
    ("auto", {"chosen": "hflip", "how": "validation"}, "auto (hflip)"),  # written again from config.yaml (eval --data)
    ("none", {"chosen": "none", "how": "pinned (--tta)"}, "none"),  # pinned: shown as given
    ("hflip", {"chosen": "hflip", "how": "pinned (--tta)"}, "hflip"),
])
def test_a_tta_chosen_on_validation_reads_as_auto_like_the_other_choices(tmp_path, tta, choice, said):
    """``tta: auto`` that chose none had read ``tta = none`` in the report training wrote, as if pinned, beside
    ``flip = auto (on)`` and ``class_weights = auto (prior-adjusted)`` (walk 'claims' 6)."""
    config = resolve({**GIVEN, "dataset": "breastmnist", "class_weights": "auto", "tta": tta}).to_dict()
    metrics = {**_metrics([1, 28, 28]),
               "choices": {"flip": {"chosen": True, "how": "pilots"}, "tta": choice,
                           "class_weights": {"chosen": "prior-adjusted", "how": "validation accuracy"}}}
    write_report(tmp_path, config, metrics)
    shown = dict(_settings((tmp_path / REPORT_FILE).read_text()))
    assert (shown["tta"], shown["flip"], shown["class_weights"]) == (said, "auto (on)", "auto (prior-adjusted)")
