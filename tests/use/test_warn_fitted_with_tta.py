"""The warning that a run's operating point was chosen on TTA-averaged probabilities has one home,
:func:`medtrain.operating_point.warn_fitted_with_tta`, beside :class:`OperatingPointWarning`: ``medtrain.load(...,
tta=False)`` (predictor) and ``export --no-tta`` (export) both call it, each in its own words; export had imported
predictor's private helper. Read here from a run's metadata alone (no training)."""
from __future__ import annotations

import os
import warnings

import pytest

from medtrain.operating_point import WITHOUT_TTA, OperatingPointWarning, warn_fitted_with_tta

BINARY = {"threshold": 0.4212349, "positive_class": 1, "operating_point": "youden"}
PER_LABEL = {"thresholds": [0.3, 0.5, 0.7], "operating_point": "sensitivity=0.9"}
NAMES = {"0": "benign", "1": "malignant"}


def _said(*args) -> list:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_fitted_with_tta(*args)
    return [w for w in caught if issubclass(w.category, OperatingPointWarning)]


@pytest.mark.parametrize("said_for", sorted(WITHOUT_TTA))
def test_each_caller_s_words_name_the_rule_threshold_tta_and_run(said_for):
    (w,) = _said(BINARY, NAMES, "hflip", said_for, "runs/a")
    assert os.path.samefile(w.filename, __file__)  # the caller's own line, the first outside medtrain
    assert str(w.message) == (
        "operating point youden: its threshold 0.421235 was chosen on validation probabilities averaged over the "
        f"run's test-time views (tta hflip); {WITHOUT_TTA[said_for].format(those='that threshold')} (run runs/a)")


def test_export_speaks_of_the_graph_and_predict_of_its_column():
    export, predict = (str(_said(BINARY, NAMES, "hflip", k)[0].message) for k in ("export", "predict"))
    assert "exported without TTA" in export and "that threshold (in the file's metadata)" in export
    assert "prediction_at_operating_point" not in export and "prediction_at_operating_point column" in predict
    assert "(run " not in export  # no run named where none is given


def test_per_label_thresholds_are_counted_and_nothing_is_said_without_an_op_or_tta():
    (w,) = _said(PER_LABEL, {"0": "a", "1": "b", "2": "c"}, "flip", "export")
    assert "operating point sensitivity=0.9: its 3 thresholds were chosen" in str(w.message)
    assert "at those thresholds (in the file's metadata)" in str(w.message)
    assert _said(BINARY, NAMES, "none", "predict") == []  # fitted without TTA
    assert _said({}, NAMES, "hflip", "predict") == []  # no operating point


def test_export_no_longer_reaches_into_the_predictor_s_private_helper():
    import ast
    import inspect

    import medtrain.export

    tree = ast.parse(inspect.getsource(medtrain.export))
    private = [f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
               for a in n.names if a.name.startswith("_") and n.module != "__future__"
               and not (n.module or "").startswith("medtrain._")]
    assert not [p for p in private if p.startswith("medtrain.predictor")]
