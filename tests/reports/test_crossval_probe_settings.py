"""A cross-validation's report and a comparison's note say of linear probes what is true of them: the report's
settings table leaves out what a probe never reads, as a run's report does (it had listed epochs, lr, augment); the
"every seed gives the same probe" note is said only where the seed drew no split (a split drawn with the seed, or dealt
into seeded folds, trains each seed's probe on other images); the folds' split origin is read from the metrics the
cross-validation holds, not from their metrics.json again."""
from __future__ import annotations

import html
import re

import pytest

from medtrain.crossval import fold_split_origin, report_data
from medtrain.reports.html import PROBE_UNREAD_NOTE, write_comparison_report, write_crossval_report
from medtrain.reports.summary import SAME_PROBE

CV = {"oof": {"n": 40, "auc": 0.8, "acc": 0.7}, "held_out": "test", "folds": 2, "dataset": "d",
      "per_fold": [{"fold": k, "test_auc": 0.8, "test_acc": 0.7, "sizes": {"train": 30, "val": 10, "test": 20}}
                   for k in range(2)]}
SETTINGS = {"model": "resnet18_28_half", "epochs": 30, "lr": 0.001, "augment": "flip", "seed": 0, "folds": 2}


def _text(page: str) -> str:
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", page).split()))


@pytest.mark.parametrize("transfer", ["linear-probe", "full"])
def test_a_probe_s_cross_validation_report_leaves_out_the_settings_it_never_read(tmp_path, transfer):
    page = _text(write_crossval_report(tmp_path, report_data(CV, {**SETTINGS, "transfer": transfer})).read_text())
    shown = {k for k in ("epochs = 30", "lr = 0.001", "augment = flip") if k in page}
    if transfer == "linear-probe":
        assert not shown and PROBE_UNREAD_NOTE in page and "model = resnet18_28_half" in page
    else:
        assert len(shown) == 3 and "Not shown" not in page


def test_the_folds_split_origin_is_read_from_the_metrics_held():
    runs = [{"data": {"split_origin": "own test, fold val"}} for _ in range(2)]
    assert fold_split_origin(runs) == "own test, fold val"
    assert fold_split_origin([runs[0], {"data": {}}]) is None


def _probe(seed, origin):
    return {"seed": seed, "test": {"acc": 0.7, "auc": 0.71}, "val": {"auc": 0.7, "acc": 0.7}, "best_epoch": 0,
            "stop_epoch": 0, "wall_s": 1.0, "probe": {"C": 1.0, "seeds": SAME_PROBE},
            **({"data": {"split_origin": origin}} if origin else {})}


@pytest.mark.parametrize("origin, said", [("own", True), (None, True), ("drawn", False),
                                          ("fold test, drawn val", False), ("own test, fold val", False)])
def test_the_same_probe_note_is_said_only_where_no_split_was_drawn_with_the_seed(tmp_path, origin, said):
    trained = [{**_probe(s, origin), "probe": None} for s in range(2)]
    cells = [{"cell": {"transfer": "full"}, "runs": trained},
             {"cell": {"transfer": "linear-probe"}, "runs": [_probe(s, origin) for s in range(2)]}]
    page = _text(write_comparison_report(tmp_path, ["transfer"], cells).read_text())
    assert ("Linear probes: transfer=linear-probe. Every seed gives the same probe (a convex fit" in page) is said


@pytest.mark.parametrize("shape, shown", [([1, 28, 28], False), ([1, 28, 28, 28], True), (None, True)])
def test_a_cross_validation_of_images_leaves_out_volume_size_as_a_run_s_report_does(tmp_path, shape, shown):
    """The folds' images are 2D: ``volume_size`` (read only for volumes) is left out of the settings table, as each
    fold's own report leaves it out; it had been listed ("volume_size = 64"). Kept for volumes and where no fold
    recorded the shape."""
    data = report_data(CV, {**SETTINGS, "volume_size": 64}, None, shape)
    page = _text(write_crossval_report(tmp_path, data).read_text())
    assert ("volume_size = 64" in page) is shown and "model = resnet18_28_half" in page
