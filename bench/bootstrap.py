"""Benchmark: the test-split bootstrap CIs of ACC and AUC (1,000 draws) against scoring each draw with sklearn.

Every run and every ``medtrain eval`` computes them. ``metrics.acc``/``metrics.auc`` score with numpy and a
rank AUC; the baseline is what they did before commit 5a6c527, sklearn's ``accuracy_score``/``roc_auc_score``
on each draw (tests/test_metrics.py checks both give the same CIs). Test-split shapes of the sets here: PneumoniaMNIST (624, binary), RetinaMNIST (400, 5 classes),
BreastMNIST (156, binary). The last line of stdout is JSON: seconds per call and the ratio.

    python bench/bootstrap.py
"""
from __future__ import annotations

import json
import time
import warnings

import numpy as np


def _sklearn_acc(y, s, task):
    from medtrain.metrics import predictions
    from sklearn.metrics import accuracy_score

    return accuracy_score(y, predictions(s, task))


def _sklearn_auc(y, s, task):
    from medtrain.tasks import BINARY
    from sklearn.metrics import roc_auc_score

    def one(t, c):
        return roc_auc_score(t, c) if len(np.unique(t)) == 2 else np.nan
    if task == BINARY:
        return one(y, s[:, -1])
    return float(np.mean([one(y == i, s[:, i]) for i in range(s.shape[1])]))


def main() -> int:
    from medtrain import metrics
    from medtrain.tasks import BINARY, MULTICLASS

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    out = {}
    for name, n, k, task in (("pneumoniamnist", 624, 2, BINARY), ("retinamnist", 400, 5, MULTICLASS),
                             ("breastmnist", 156, 2, BINARY)):
        y = rng.integers(0, k, n)
        s = rng.dirichlet(np.ones(k), n)
        t0 = time.perf_counter()
        slow = metrics.bootstrap(y, s, {"acc": lambda a, b: _sklearn_acc(a, b, task),
                                        "auc": lambda a, b: _sklearn_auc(a, b, task)}, n=1000)
        t1 = time.perf_counter()
        fast = metrics.bootstrap_ci(y, s, task, n=1000)
        t2 = time.perf_counter()
        same = all(np.allclose(fast[c], slow[c], atol=1e-12) for c in fast)
        out[name] = {"sklearn_s": round(t1 - t0, 3), "rank_s": round(t2 - t1, 3),
                     "speedup": round((t1 - t0) / (t2 - t1), 1), "same_cis": same}
        print(f"{name}: sklearn {t1 - t0:.2f} s, rank {t2 - t1:.3f} s, same CIs: {same}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
