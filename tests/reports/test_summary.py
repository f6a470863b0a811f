"""The printed summary of a run is made from its metrics.json content alone."""
from medtrain.reports.summary import auc_acc_line, choices_line, operating_point_line, run_summary


def _metrics(**extra):
    return {"best_epoch": 4, "stop_epoch": 9, "train_images_per_s": 321.0, "wall_s": 61.4,
            "test": {"auc": 0.9123, "acc": 0.8456, "auc_ci": [0.85, 0.96], "acc_ci": [0.79, 0.9]},
            "calibration": {"temperature": 1.5, "test": {"ece": 0.1, "ece_scaled": 0.04}}, **extra}


def test_summary_gives_epochs_one_based_test_metrics_with_cis_and_the_published_rows():
    text = run_summary(_metrics(), "pneumoniamnist", "val_auc")
    first = text.splitlines()[0]
    assert first == "best epoch 5 (by val_auc), stopped after epoch 10; 321 train images/s; wall 61 s"
    assert "test AUC 0.9123 [0.850, 0.960]  test ACC 0.8456 [0.790, 0.900]" in text
    assert "test ECE 0.1000 -> 0.0400 after temperature scaling (T = 1.500" in text
    assert "ResNet-18 (28)" in text  # the MedMNIST v2 rows for this dataset, beside ours
    assert "threshold" not in text and "ensemble" not in text and "skipped" not in text


def test_a_run_that_keeps_its_last_epoch_says_so():
    first = run_summary(_metrics(checkpoint="last", best_epoch=9), "breastmnist", "val_auc").splitlines()[0]
    assert first == "the last epoch (10) kept, stopped after epoch 10; 321 train images/s; wall 61 s"


def test_a_procedure_s_own_first_line_keeps_the_wall_time():
    assert run_summary(_metrics(), "breastmnist", "val_auc", fit_summary="linear probe").splitlines()[0] == \
        "linear probe; wall 61 s"


def test_an_ensemble_lists_each_member():
    # (skipped steps are a warning of the run since session 30, tests/training/test_precision_fallback.py)
    text = run_summary(_metrics(members_val_auc={"ensemble": 0.97, "members": [0.96, 0.95]}, skipped_steps=3),
                       "vesselmnist3d", "val_auc")
    assert "ensemble of 2: val AUC 0.9700 (no TTA); its members alone 0.9600, 0.9500" in text


def test_without_bootstrap_the_summary_says_there_are_no_cis_instead_of_nan():
    m = _metrics()
    m["test"].update(auc_ci=[float("nan")] * 2, acc_ci=[None, None])  # in memory / read back from metrics.json
    text = run_summary(m, "breastmnist", "val_auc")
    assert "test AUC 0.9123  test ACC 0.8456  (no CIs: the run was trained with --bootstrap 0)" in text and "nan" not in text


def test_a_temperature_kept_at_1_says_why():
    m = _metrics(calibration={"temperature": 1.0, "rule": "kept 1: validation has no error, so it does not "
                              "determine T", "test": {"ece": 0.1, "ece_scaled": 0.1}})
    assert ("test ECE 0.1000, no temperature scaling (kept 1: validation has no error, so it does not determine T)"
            in run_summary(m, "breastmnist", "val_auc"))


def test_the_operating_point_line_carries_the_rule_and_each_rate_with_its_ci():
    op = {"threshold": 0.3, **{k: 0.8 for k in ("sensitivity", "specificity", "ppv", "npv")},
          **{k + "_ci": [0.7, 0.9] for k in ("sensitivity", "specificity", "ppv", "npv")}}
    text = run_summary(_metrics(operating_point={"test": op}), "breastmnist", "val_auc", "sensitivity:0.9")
    assert "sensitivity:0.9 (threshold 0.3000): sensitivity 0.800 [0.700, 0.900]" in text
    assert operating_point_line(op).startswith("operating point (threshold 0.3000)")


def test_choices_line_names_each_choice_its_reason_and_the_validation_numbers():
    line = choices_line({"flip": {"chosen": False, "how": "pilots", "val_auc": {"with": 0.7, "without": 0.8}},
                         "class_weights": {"chosen": "balanced", "how": "val acc"}})
    assert line == "choices: flips off: pilots (val auc with 0.7000, without 0.8000); class weights balanced: val acc"


def test_a_missing_interval_says_why_one_patient_or_too_few_defined_resamples():
    """An interval the bootstrap cannot give (one test patient; an AUC defined in few resamples) is left out with
    its reason: it had said "--bootstrap 0" for a run with 1,000 draws."""
    from medtrain.reports.summary import auc_acc_line

    nan = float("nan")
    one = {"auc": 1.0, "acc": 0.4848, "auc_ci": [nan, nan], "acc_ci": [nan, nan], "auc_ci_draws": 0, "patients": 1}
    line = auc_acc_line(one)
    assert "[" not in line and "1 patient(s)" in line and "--bootstrap" not in line
    few = {"auc": 0.70, "acc": 0.07, "auc_ci": [nan, nan], "acc_ci": [0.017, 0.133], "auc_ci_draws": 5}
    line = auc_acc_line(few)
    assert "ACC 0.0700 [0.017, 0.133]" in line and "AUC's is defined in only 5 resamples" in line
    assert "no CIs: the run was trained with --bootstrap 0" in auc_acc_line(
        {"auc": 0.7, "acc": 0.6, "auc_ci": [nan, nan], "acc_ci": [nan, nan]})


def test_an_operating_point_rate_without_an_interval_prints_no_nan():
    nan = float("nan")
    op = {"threshold": 0.5, "sensitivity": 1.0, "sensitivity_ci": [nan, nan], "specificity": 0.5,
          "specificity_ci": None, "ppv": nan, "ppv_ci": [nan, nan], "npv": 1.0, "npv_ci": [0.2, 1.0]}
    line = operating_point_line(op)
    assert "nan" not in line.lower() and "ppv –" in line and "npv 1.000 [0.200, 1.000]" in line


def test_a_temperature_at_the_top_of_its_range_is_said_to_flatten_the_probabilities():
    """T = 20 (the fit's bound, reached by a network whose validation scores barely separate the classes) had
    read as an ordinary fit."""
    cal = {"temperature": 20.0, "rule": "fitted", "at_bound": True, "test": {"ece": 0.3, "ece_scaled": 0.05}}
    text = run_summary(_metrics(calibration=cal), "breastmnist", "val_auc")
    assert "T = 20.000, fitted on validation, at the top of its range" in text
    assert "top of its range" not in run_summary(_metrics(), "breastmnist", "val_auc")


def test_a_temperature_at_the_bottom_of_its_range_is_said_to_sharpen_the_probabilities():
    """T = 0.05, the fit's lower bound (a validation split separated almost without error; one run's unbounded fit
    was 0.038), had been recorded at_bound false and read as an ordinary fit (walk 'oppoint')."""
    from medtrain.evaluation.calibration import T_RANGE, at_bound

    assert at_bound(T_RANGE[0]) and at_bound(T_RANGE[1]) and not at_bound(1.0) and not at_bound(0.2)
    cal = {"temperature": T_RANGE[0], "rule": "fitted", "at_bound": True, "test": {"ece": 0.1, "ece_scaled": 0.2}}
    text = run_summary(_metrics(calibration=cal, val={"auc": 0.99}), "breastmnist", "val_auc")
    assert "T = 0.050, fitted on validation, at the bottom of its range: the validation scores separate the " \
           "classes almost without error" in text


def test_the_reason_for_a_temperature_at_its_bound_follows_the_validation_scores():
    # a multi-label fold of validation AUC 0.68, whose scores sat at 0.46-0.51, had been told they "separate the
    # classes almost without error"
    from medtrain.evaluation.calibration import T_RANGE

    low = {"temperature": T_RANGE[0], "rule": "fitted", "at_bound": True, "test": {"ece": 0.22, "ece_scaled": 0.11}}
    text = run_summary(_metrics(calibration=low, val={"auc": 0.6846}, task="multi-label, binary-class"),
                       "breastmnist", "val_auc")
    assert "at the bottom of its range (one T for every label): the validation scores crowd together (validation " \
           "AUC 0.685) and the smallest T spreads them" in text and "without error" not in text
    high = {**low, "temperature": T_RANGE[1]}
    assert "at the top of its range: the network is surer than validation shows it to be right" in run_summary(
        _metrics(calibration=high, val={"auc": 0.9}), "breastmnist", "val_auc")
    assert "at the top of its range: the validation scores barely separate the classes" in run_summary(
        _metrics(calibration=high, val={"auc": 0.55}), "breastmnist", "val_auc")


def test_an_auc_whose_resamples_cannot_differ_is_not_said_to_be_defined_in_0_of_them():
    from medtrain.reports.summary import auc_acc_line

    nan = float("nan")
    res = {"auc": 1.0, "acc": 1.0, "auc_ci": [nan, nan], "acc_ci": [0.342, 1.0], "auc_ci_draws": 0,
           "acc_ci_method": "wilson"}
    line = auc_acc_line(res)
    assert "no AUC interval: the resamples cannot differ" in line and "only 0" not in line


def test_an_acc_interval_of_many_small_classes_says_it_is_wilson_s_and_why():
    """20 classes of 1-8 test images: the within-class resamples hold small classes fixed, so ACC's interval is
    Wilson's, and the line must not give the reason of a one-class network."""
    import numpy as np

    from medtrain.metrics import evaluate_scores, wilson_interval
    from medtrain.reports.summary import auc_acc_line

    counts = [8, 3, 3, 1, 1, 1, 3, 3, 1, 8, 8, 1, 8, 1, 8, 3, 3, 1, 8, 1]
    y = np.repeat(np.arange(20), counts)
    s = np.random.default_rng(0).dirichlet(np.ones(20), len(y))
    res = evaluate_scores(y, s, "multi-class", {str(i): f"c{i}" for i in range(20)}, bootstrap=100)
    hits = int(round(res["acc"] * len(y)))
    line = auc_acc_line(res, "test ")
    assert f"test ACC {res['acc']:.4f} [{wilson_interval(hits, len(y))[0]:.3f}, " in line
    assert "ACC's is Wilson's: too few test images per class to resample within classes" in line
    assert "the same ACC in every resample" not in line


def test_no_interval_names_the_runs_training_setting_not_an_option_of_eval():
    # eval has no --bootstrap: "(no CIs: --bootstrap 0)" had named an option the command does not take (a CT walk)
    line = auc_acc_line({"auc": 0.7, "acc": 0.6})
    assert "(no CIs: the run was trained with --bootstrap 0)" in line
