"""Which decision rule should a run keep? The class-weights choice, old and new, scored on validation only.

A default run trains with the class-balanced loss and then keeps, by validation accuracy, the balanced rule
or the prior's logit adjustment (:func:`medtrain.training.choices.decide_class_weights`). This bench adds a
third candidate, the shift of bias-corrected temperature scaling fitted on validation
(:mod:`medtrain.evaluation.bias`), and asks whether the selection with it is more accurate than without it.

A rule fitted on validation and scored there looks better than it is, and so does any choice of the best of
several rules, so both procedures are scored by nested cross-validation of the validation split: each outer
fold gets the rule the procedure picks on the other folds (the fitted rule judged, inside, by its own inner
cross-fitted accuracy). No test image is read unless ``--test`` is given, which adds each run's test accuracy
under its old choice and under the new procedure (run once, after the procedure was fixed).

    python bench/threshold_rule.py runs/*/metrics.json         # finished runs (any set, any recipe)

``--always-adjusted`` adds a third procedure: the logit adjustment always (prior-adjusted unless the fitted
rescue leads it by the margin), no choice between balanced and adjusted on validation. The prior-adjusted
rule is the Bayes rule for accuracy when the test prevalence is the training one (Menon et al.), and the
choice made on a small validation split (BreastMNIST: 78 images) is partly noise. Rule, written down before
the run (the commit that added the flag): on the 2D runs of the current default (``runs/v8-*``, ``runs/v9-*``
and the flip ablation's ``runs/flipab``: BreastMNIST and RetinaMNIST 13 runs each, PneumoniaMNIST 6), adopt
"always adjusted" if the mean over the three datasets of its nested-CV val ACC leads the current procedure's by
>= 0.005 and it trails on no dataset by more than 0.005; otherwise the current rule stays.

The last line of stdout is JSON: per run, the nested-CV validation accuracy of the old procedure and of the new
one at each ``--margins`` value (the lead in cross-fitted accuracy the fitted rule needs over the better of the
other two).
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import KFold, StratifiedKFold

import medtrain
from medtrain import metrics
from medtrain.evaluation import pseudo_logits
from medtrain.evaluation.bias import crossfit_scores, decision_shift
from medtrain.metrics import scores_from_logits
from medtrain.tasks import MULTILABEL
from medtrain.training.choices import FITTED_MARGIN, pick_rule


def _scores(z, task):
    return scores_from_logits(torch.from_numpy(np.asarray(z, dtype=np.float64)), task).numpy()


def _pick(z, y, s, task, fitted: bool, margin: float = FITTED_MARGIN, always_adjusted: bool = False):
    """The rule and shift a procedure keeps, chosen on (z, y) by the run's own rule
    (:func:`medtrain.training.choices.pick_rule`) at ``margin``; without ``fitted``, the old procedure."""
    acc = {"balanced": -1.0 if always_adjusted else metrics.acc(y, _scores(z, task), task),
           "prior-adjusted": metrics.acc(y, _scores(z + s, task), task)}
    cv = crossfit_scores(z, y, task) if fitted else None
    rule = pick_rule(acc, metrics.acc(y, cv, task) if cv is not None else None, margin)
    return rule, {"balanced": 0 * s, "prior-adjusted": s}[rule] if rule != "val-fitted" else decision_shift(z, y, task)


def nested_acc(z, y, s, task, fitted: bool, seed: int = 0, margin: float = 0.0, always_adjusted: bool = False) -> float:
    splitter = (KFold(5, shuffle=True, random_state=seed) if task == MULTILABEL
                else StratifiedKFold(5, shuffle=True, random_state=seed))
    pred = np.zeros_like(z)
    for a, b in splitter.split(np.zeros(len(y)), y if task != MULTILABEL else None):
        _, shift = _pick(z[a], y[a], s, task, fitted, margin, always_adjusted)
        pred[b] = _scores(z[b] + shift, task)
    return metrics.acc(y, pred, task)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("metrics", nargs="+", help="metrics.json files of finished runs")
    p.add_argument("--data-dir", default=os.environ.get("MEDTRAIN_DATA", "../shared/data"))
    p.add_argument("--margins", type=float, nargs="+", default=[FITTED_MARGIN],
                   help="lead in cross-fitted accuracy the fitted rule needs (each one scored)")
    p.add_argument("--margin", type=float, default=FITTED_MARGIN, help="the margin of the new procedure for --test")
    p.add_argument("--always-adjusted", action="store_true", help="also the procedure that always adjusts")
    p.add_argument("--test", action="store_true", help="also the test accuracy (after the procedure is fixed)")
    args = p.parse_args()
    out = {}
    for f in args.metrics:
        run = Path(f).parent
        m = json.loads(Path(f).read_text())
        cw = (m.get("choices") or {}).get("class_weights") or {}
        if "logit_shift" not in cw:
            continue
        task, s = m["task"], np.asarray(cw["logit_shift"], dtype=np.float64)
        data = np.load(Path(args.data_dir) / f"{m['dataset']}.npz")
        model = medtrain.load(run, calibrated=False)

        def balanced_logits(split):
            z = pseudo_logits(model.predict(data[f"{split}_images"]), task)
            folded = {"prior-adjusted": s, "val-fitted": np.asarray(cw.get("fitted_shift", 0.0))}
            return z - folded.get(cw["chosen"], 0 * s)  # undo the shift folded into the bias

        y = data["val_labels"]
        y = y if task == MULTILABEL else y.reshape(-1)
        z = balanced_logits("val")
        row = {"dataset": m["dataset"], "old_choice": cw["chosen"],
               "nested_val_acc_old": nested_acc(z, y, s, task, fitted=False),
               "nested_val_acc_new": {m_: nested_acc(z, y, s, task, True, margin=m_) for m_ in args.margins}}
        if args.always_adjusted:
            row["nested_val_acc_always_adjusted"] = nested_acc(z, y, s, task, True, margin=args.margin,
                                                               always_adjusted=True)
        new, shift = _pick(z, y, s, task, True, args.margin)
        row["new_choice"] = new
        if args.test:
            yt = data["test_labels"]
            yt = yt if task == MULTILABEL else yt.reshape(-1)
            zt = balanced_logits("test")
            old_shift = s if cw["chosen"] == "prior-adjusted" else 0 * s
            row["test_acc_old"] = metrics.acc(yt, _scores(zt + old_shift, task), task)
            row["test_acc_new"] = metrics.acc(yt, _scores(zt + shift, task), task)
        out[str(run)] = row
        print(f"{row['nested_val_acc_old']:.3f} -> " + " ".join(f"{v:.3f}" for v in row["nested_val_acc_new"].values())
              + f"  {cw['chosen']:>14} -> {new:<8} "
              + (f"test {row['test_acc_old']:.3f} -> {row['test_acc_new']:.3f}  " if args.test else "") + str(run),
              flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
