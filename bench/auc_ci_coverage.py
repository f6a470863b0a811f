"""Coverage of medtrain's 95% AUC intervals on simulated test sets with few images of a class: the
class-stratified percentile bootstrap (medtrain's interval elsewhere), Newcombe's score interval (binary,
``medtrain.intervals.newcombe_auc_interval``) and the logit-scale influence interval of the mean one-vs-rest AUC
(multi-class, ``medtrain.intervals.macro_auc_logit_interval``). What ``metrics.acc_auc_ci`` gives is chosen
by the rules in its docstring; this measures why.

Binary: binormal scores, positives N(d, 1), negatives N(0, 1), true AUC Phi(d / sqrt 2). Multi-class: K classes,
each image's own-class logit raised by 1.5 over N(0, 1) logits, the truth from 1,000 images a class.

Paired (``--paired``): the interval of the difference of two correlated AUCs on the same test images, as
``medtrain eval RUN --vs OTHER`` gives it for a binary task with few images of a class: DeLong's
``d +- z se`` (``significance.delong_interval``) against MOVER (``significance.mover_interval``: Newcombe's
interval of each AUC, DeLong's correlation). Two binormal models sharing a per-image term,
``lift * y + shared + N(0, 0.7)``, ``shared ~ N(0, 1)``; true AUC ``Phi(lift / sqrt(2 * 1.49))``.

    python bench/auc_ci_coverage.py            # ~6 min on 2 cores; JSON on the last line
    python bench/auc_ci_coverage.py --paired   # ~1 min on one core
"""
from __future__ import annotations

import json
import sys

import numpy as np
from scipy.stats import norm

from medtrain import metrics
from medtrain.intervals import macro_auc_logit_interval, newcombe_auc_interval
from medtrain.significance import delong_interval, mover_interval

SETS, DRAWS = 300, 200


def binary(n_pos, n_neg, d, rng):
    y = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    p = 1 / (1 + np.exp(-np.r_[rng.normal(d, 1, n_pos), rng.normal(0, 1, n_neg)]))
    return y, np.stack([1 - p, p], 1)


def multiclass(per, k, rng, sep=1.5):
    y = np.repeat(np.arange(k), per)
    z = rng.normal(0, 1, (len(y), k))
    z[np.arange(len(y)), y] += sep
    p = np.exp(z)
    return y, p / p.sum(1, keepdims=True)


def covered(ci, truth):
    return bool(ci[0] <= truth <= ci[1])


def main() -> None:
    rng, rows = np.random.default_rng(0), []
    for n_pos, n_neg, d in [(2, 50, 1.5), (5, 60, 1.5), (10, 100, 1.5), (10, 100, 2.5), (20, 200, 1.5),
                            (40, 200, 1.0)]:
        truth, held = float(norm.cdf(d / np.sqrt(2))), {"bootstrap": 0, "newcombe": 0}
        for t in range(SETS):
            y, s = binary(n_pos, n_neg, d, rng)
            held["bootstrap"] += covered(metrics.bootstrap_ci(y, s, "binary-class", DRAWS, seed=t)["auc_ci"], truth)
            held["newcombe"] += covered(newcombe_auc_interval(metrics.auc(y, s, "binary-class"), n_pos, n_neg), truth)
        rows.append({"task": "binary", "positives": n_pos, "negatives": n_neg, "auc": round(truth, 3),
                     **{k: round(v / SETS, 3) for k, v in held.items()}})
        print(rows[-1], flush=True)
    for per, k in [(4, 20), (8, 20), (15, 20), (3, 5)]:
        y, s = multiclass(1000, k, rng)
        truth, held = metrics.auc(y, s, "multi-class"), {"bootstrap": 0, "delong_logit": 0}
        for t in range(SETS):
            y, s = multiclass(per, k, rng)
            held["bootstrap"] += covered(metrics.bootstrap_ci(y, s, "multi-class", DRAWS, seed=t)["auc_ci"], truth)
            held["delong_logit"] += covered(macro_auc_logit_interval(y, s), truth)
        rows.append({"task": "multi-class", "classes": k, "images_per_class": per, "auc": round(truth, 3),
                     **{k2: round(v / SETS, 3) for k2, v in held.items()}})
        print(rows[-1], flush=True)
    print(json.dumps({"sets": SETS, "draws": DRAWS, "rows": rows}))


def paired() -> None:
    """Coverage and mean width of DeLong's and MOVER's intervals of an AUC difference, per row."""
    rng, rows, noise = np.random.default_rng(0), [], 0.7
    spread = np.sqrt(2 * (1 + noise ** 2))  # sd of a positive's score minus a negative's
    for n_pos, n_neg, lift_a, lift_b in [(12, 100, 2.5, 2.0), (20, 100, 2.5, 2.0), (12, 100, 3.5, 2.8),
                                         (20, 100, 3.5, 2.8), (12, 100, 2.5, 2.5)]:
        truth_a, truth_b = (float(norm.cdf(v / spread)) for v in (lift_a, lift_b))
        y = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
        held, width = {"delong": 0, "mover": 0}, {"delong": 0.0, "mover": 0.0}
        for _ in range(SETS):
            shared = rng.normal(0, 1, len(y))
            a = lift_a * y + shared + rng.normal(0, noise, len(y))
            b = lift_b * y + shared + rng.normal(0, noise, len(y))
            for name, fn in (("delong", delong_interval), ("mover", mover_interval)):
                ci = fn(y, a, b)["difference_ci"]
                held[name] += covered(ci, truth_a - truth_b)
                width[name] += ci[1] - ci[0]
        rows.append({"task": "binary, paired difference", "positives": n_pos, "negatives": n_neg,
                     "auc_a": round(truth_a, 3), "auc_b": round(truth_b, 3),
                     **{k: round(v / SETS, 3) for k, v in held.items()},
                     **{f"{k}_width": round(v / SETS, 3) for k, v in width.items()}})
        print(rows[-1], flush=True)
    print(json.dumps({"sets": SETS, "rows": rows}))


if __name__ == "__main__":
    paired() if "--paired" in sys.argv[1:] else main()
