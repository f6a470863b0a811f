"""The run report says what was chosen on validation, as the run chose it: a run that keeps its last epoch by rule
had read "The selected epoch ... chosen on validation only"; the bootstrap's resample count is given beside its
intervals; a choice's required margin is not read as the margin achieved."""
from __future__ import annotations

import html
import re

import pytest

from medtrain.reports.html import run_report

TEST = {"n": 40, "auc": 0.8, "acc": 0.7, "auc_ci": [0.6, 0.9], "acc_ci": [0.55, 0.82], "auc_ci_draws": 200,
        "acc_ci_draws": 200}
CHOICES = {"class_weights": {"chosen": "val-fitted", "how": "validation accuracy",
                             "val_acc": {"balanced": 0.46, "val-fitted": 0.78},
                             "val_acc_crossfit": {"val-fitted": 0.78, "margin": 0.06}}}


def _page(config: dict, **m) -> str:
    metrics = {"dataset": "mydata", "model": "resnet18_28", "seed": 0, "task": "binary-class", "history": [],
               "best_epoch": 2, "stop_epoch": 2, "val": {"auc": 0.9, "acc": 0.8}, "test": TEST, **m}
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", run_report(config, metrics, {}))))


@pytest.mark.parametrize("checkpoint, said", [
    ("best", "The selected epoch and the temperature were chosen on validation only."),
    ("last", "The temperature was chosen on validation only; the kept epoch is the last, by the checkpoint rule."),
])
def test_the_epoch_is_said_chosen_on_validation_only_where_it_was(checkpoint, said):
    assert said in _page({"bootstrap": 200}, checkpoint=checkpoint)


def test_the_choices_and_the_resample_count_are_said():
    page = _page({"bootstrap": 200}, checkpoint="last", choices=CHOICES)
    assert "The temperature and the choices below were chosen on validation only" in page
    assert "percentile bootstrap intervals (200 resamples) over test images" in page
    assert "val_acc_crossfit: val-fitted 0.780, kept if ahead by more than 0.060" in page
    assert "margin 0.060" not in page


def test_a_refused_rule_is_said_as_a_sentence_not_as_its_key():
    # "..., kept if ahead by more than 0.060, refused calls every validation image one class" (a reader's walk)
    refused = {"class_weights": {**CHOICES["class_weights"], "chosen": "balanced",
                                 "val_acc_crossfit": {"val-fitted": 0.78, "margin": 0.06,
                                                      "refused": "calls every validation image one class"}}}
    page = _page({"bootstrap": 200}, checkpoint="last", choices=refused)
    assert "kept if ahead by more than 0.060, not kept: it calls every validation image one class" in page
    assert "refused calls" not in page
