"""Where every fold kept its temperature at 1, cv.md and the report say the calibrated and raw scales are one: they
had said each fold "fitted its own temperature, so its calibrated ones are not on one scale" beside a temperature
column of 1.000 in every row (an evidence walk)."""
from medtrain._crossval_labels import POOLED_FROM, POOLED_FROM_T1, pooled_from, threshold_note


def _cv(temperatures):
    folds = [{"fold": k, "threshold": 0.29 + k / 100, "temperature": t, "threshold_raw": 0.29 + k / 100}
             for k, t in enumerate(temperatures)]
    return {"per_fold": folds, "summary": {"threshold_raw": {"mean": 0.30, "std": 0.01, "min": 0.29, "max": 0.31}}}


def test_folds_that_all_kept_t_1_are_said_to_share_one_scale():
    cv = _cv([1.0, 1.0, 1.0])
    assert pooled_from(cv) == POOLED_FROM_T1
    note = threshold_note(cv)
    assert note.endswith("Every fold kept its temperature at 1, so its calibrated and raw thresholds are the same.")
    assert "not on one scale" not in note


def test_one_fitted_temperature_keeps_the_words_of_separate_scales():
    cv = _cv([1.0, 0.86, 1.0])
    assert pooled_from(cv) == POOLED_FROM
    assert threshold_note(cv).endswith("the spread is over the raw ones.")
    assert pooled_from({"per_fold": []}) == POOLED_FROM
