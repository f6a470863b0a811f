"""RandAugment grid search: selection on validation AUC, policy written with its record."""
from __future__ import annotations

import math

import pytest

from medtrain.augment.policies import load_policy, randaugment_policy, save_policy
from medtrain.augment.search import randaugment_grid_search
from medtrain.errors import MedtrainError


class FakeTrainer:
    """A train_fn whose validation AUC is a known function of (N, M); records every call."""

    def __init__(self, auc):
        self.auc, self.calls = auc, []

    def __call__(self, spec, params):
        self.calls.append((list(spec), dict(params)))
        if "randaugment" not in spec:
            return self.auc(0, 0)
        return self.auc(params["ra_n"], params["ra_m"])


def test_search_picks_the_argmax_of_the_injected_train_fn(tmp_path):
    fake = FakeTrainer(lambda n, m: 0.80 + (0.1 if (n, m) == (2, 6) else 0.0) - 0.001 * n * m)
    result = randaugment_grid_search(fake, n_values=[1, 2, 3], m_values=[3, 6, 9], out=tmp_path / "p.yaml")
    assert (result.best.n, result.best.m) == (2, 6)
    assert result.policy.sub_policies == randaugment_policy(2, 6).sub_policies and result.policy.layers == 2
    assert len(fake.calls) == 1 + 9  # baseline + grid


def test_every_candidate_gets_the_base_augment_budget_and_settings():
    fake = FakeTrainer(lambda n, m: 0.5)
    randaugment_grid_search(fake, n_values=[1], m_values=[4], base_augment=["flip"], params={"seed": 3},
                            budget_epochs=5)
    (base_spec, base_params), (spec, params) = fake.calls
    assert base_spec == ["flip"] and base_params == {"seed": 3, "epochs": 5}
    assert spec == ["flip", "randaugment"] and params == {"seed": 3, "epochs": 5, "ra_n": 1, "ra_m": 4}


def test_baseline_can_win_and_then_the_policy_changes_nothing(tmp_path):
    fake = FakeTrainer(lambda n, m: 0.9 if n == 0 else 0.7)
    result = randaugment_grid_search(fake, n_values=[1, 2], m_values=[5], out=tmp_path / "p.yaml")
    assert result.best.n == 0
    assert [op.name for sub in load_policy(tmp_path / "p.yaml").sub_policies for op in sub] == ["Identity"]
    assert fake.calls[0][0] == ["none"]


def test_ties_go_to_the_weaker_augmentation():
    result = randaugment_grid_search(FakeTrainer(lambda n, m: 0.8), n_values=[2, 1], m_values=[9, 3],
                                     include_baseline=False)
    assert (result.best.n, result.best.m) == (1, 3)


def test_written_policy_records_the_grid_results(tmp_path):
    fake = FakeTrainer(lambda n, m: 0.6 + 0.01 * n + 0.001 * m)
    randaugment_grid_search(fake, n_values=[1, 2], m_values=[3, 9], budget_epochs=2, out=tmp_path / "p.yaml")
    text = (tmp_path / "p.yaml").read_text()
    assert "# N=2 M=9" in text and "<- best" in text  # human-readable table in the header comment
    record = load_policy(tmp_path / "p.yaml").metadata["search"]
    assert record["best"] == {"n": 2, "m": 9, "val_auc": pytest.approx(0.629)}
    assert record["budget_epochs"] == 2 and len(record["results"]) == 5
    assert record["selected_on"].startswith("val_auc")
    randaugment_grid_search(fake, n_values=[1], m_values=[3], budget_epochs=1, out=tmp_path / "p1.yaml")
    assert ", 1 epoch per candidate," in (tmp_path / "p1.yaml").read_text()  # had been "1 epochs"


def test_failed_candidates_are_skipped_and_all_failing_is_an_error():
    result = randaugment_grid_search(FakeTrainer(lambda n, m: math.nan if n == 1 else 0.7), n_values=[1, 2],
                                     m_values=[5], include_baseline=False)
    assert result.best.n == 2
    with pytest.raises(MedtrainError, match="failed"):
        randaugment_grid_search(FakeTrainer(lambda n, m: math.nan), n_values=[1], m_values=[5])


@pytest.mark.parametrize("ns, ms, message", [([0], [5], "N values"), ([1], [11], "M values"), ([], [5], "at least")])
def test_bad_grids_are_user_errors(ns, ms, message):
    with pytest.raises(MedtrainError, match=message):
        randaugment_grid_search(FakeTrainer(lambda n, m: 0.5), n_values=ns, m_values=ms)


# --------------------------------------------------------------------------- AutoAugment-style policies


def test_an_autoaugment_trial_draws_sub_policies_of_two_ops_on_the_papers_grid():
    import optuna

    from medtrain.augment._policy_ops import OPS
    from medtrain.augment.search import AUTOAUGMENT_SEARCH_OPS, suggest_autoaugment_policy

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        policy = suggest_autoaugment_policy(study.ask(), sub_policies=3)
        assert len(policy.sub_policies) == 3 and all(len(sub) == 2 for sub in policy.sub_policies)
        for op in (op for sub in policy.sub_policies for op in sub):
            assert op.name in AUTOAUGMENT_SEARCH_OPS
            assert round(op.prob * 10) == pytest.approx(op.prob * 10)  # probabilities 0, 0.1, ..., 1
            assert (op.magnitude is None) == (not OPS[op.name].has_magnitude)
            assert op.magnitude is None or op.magnitude in range(10)  # magnitudes 0..9


def test_a_trial_draws_no_magnitude_for_an_op_that_takes_none():
    """The trials' table lists a trial's params: a magnitude drawn for Equalize, Invert or AutoContrast had been
    listed there (and modelled by TPE) though the policy writes null for it."""
    import optuna

    from medtrain.augment._policy_ops import OPS
    from medtrain.augment.search import suggest_autoaugment_policy

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    free = 0
    for _ in range(10):
        trial = study.ask()
        policy = suggest_autoaugment_policy(trial, sub_policies=3)
        for i, sub in enumerate(policy.sub_policies):
            for j, op in enumerate(sub):
                assert (f"sp{i}_m{j}" in trial.params) == OPS[op.name].has_magnitude
                free += not OPS[op.name].has_magnitude
    assert free  # the draws held magnitude-free ops


def test_a_trial_of_a_study_begun_with_a_magnitude_for_every_op_rebuilds_its_policy():
    import optuna

    from medtrain.augment.search import suggest_autoaugment_policy

    old = {"sp0_op0": "Equalize", "sp0_p0": 0.30000000000000004, "sp0_m0": 7,
           "sp0_op1": "Rotate", "sp0_p1": 1.0, "sp0_m1": 4}  # a magnitude for Equalize too, as trials had drawn
    policy = suggest_autoaugment_policy(optuna.trial.FixedTrial(old), sub_policies=1)
    assert [op.as_list() for op in policy.sub_policies[0]] == [["Equalize", 0.3, None], ["Rotate", 1.0, 4]]


def test_a_trials_params_rebuild_its_policy_and_the_yaml_round_trips(tmp_path):
    import optuna

    from medtrain.augment.search import suggest_autoaugment_policy

    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)).ask()
    drawn = suggest_autoaugment_policy(trial, sub_policies=2)
    rebuilt = suggest_autoaugment_policy(optuna.trial.FixedTrial(trial.params), sub_policies=2)
    assert rebuilt.sub_policies == drawn.sub_policies
    save_policy(drawn, tmp_path / "p.yaml")
    assert load_policy(tmp_path / "p.yaml").sub_policies == drawn.sub_policies


def test_the_no_op_trial_applies_nothing():
    import optuna

    from medtrain.augment.search import no_op_params, suggest_autoaugment_policy

    study = optuna.create_study()
    study.enqueue_trial(no_op_params(4))
    policy = suggest_autoaugment_policy(study.ask(), sub_policies=4)
    assert [op.prob for sub in policy.sub_policies for op in sub] == [0.0] * 8
