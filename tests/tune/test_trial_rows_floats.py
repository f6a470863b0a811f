"""The trials table writes a stepped draw as it was drawn: Optuna stores 0.1 steps with binary noise
(0.30000000000000004), which trials.csv had written as such (walk 'augsearch' 7)."""
from __future__ import annotations

import optuna

from medtrain.tune.report import trial_rows


def test_a_stepped_probability_is_written_as_drawn_and_other_values_untouched():
    study = optuna.create_study(direction="maximize")
    dist = {"sp0_p0": optuna.distributions.FloatDistribution(0.0, 1.0, step=0.1),
            "lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True),
            "sp0_op0": optuna.distributions.CategoricalDistribution(["Rotate", "Equalize"])}
    study.add_trial(optuna.trial.create_trial(params={"sp0_p0": 0.1 * 3, "lr": 0.0012345678901234, "sp0_op0": "Rotate"},
                                              distributions=dist, value=0.5))
    header, rows = trial_rows(study)
    row = dict(zip(header, rows[0]))
    assert 0.1 * 3 == 0.30000000000000004 and row["sp0_p0"] == 0.3 and repr(row["sp0_p0"]) == "0.3"
    assert row["lr"] == 0.00123456789012 and row["sp0_op0"] == "Rotate" and row["value"] == 0.5
