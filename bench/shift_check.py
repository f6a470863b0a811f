"""Why does a run lose accuracy on its test split? Prevalence or appearance: per-class recall on validation
and test, and what a pure change of prevalence would predict.

Under a pure prior (label) shift, p(x | y) is the same on validation and test and only the class shares
change, so each class's recall carries over and the test accuracy would be ``sum_y pi_test(y) recall_val(y)``.
A test accuracy far below that means the images of some class look different on test (a class-conditional
shift), which no prevalence correction can undo. The same question asked of the images alone: the EM prior
estimate of Saerens, Latinne and Decaestecker ("Adjusting the outputs of a classifier to new a priori
probabilities", Neural Computation 2002) on the test predictions, calibrated on validation by bias-corrected
temperature scaling (:mod:`medtrain.evaluation.bias`; Alexandari et al., ICML 2020, show that pairing to be
hard to beat), which finds the test prevalence when only the prevalence moved.

This is a reading of finished runs after their test numbers were reported: test labels are read, nothing is
chosen from them.

    python bench/shift_check.py runs/v9-pneumoniamnist/base/seed0 runs/v9-pneumoniamnist/base/seed1

The last line of stdout is JSON: per run, validation and test class shares, recalls and accuracy, the accuracy a
pure prior shift would give, and the EM estimate of the test class shares.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

import medtrain
from medtrain.evaluation import pseudo_logits
from medtrain.evaluation.bias import fit_bias
from medtrain.tasks import MULTILABEL


def em_prior(probs: np.ndarray, prior: np.ndarray, iters: int = 1000, tol: float = 1e-8) -> np.ndarray:
    """Saerens et al.'s EM: the class shares of the images ``probs`` ``(N, K)`` were drawn with, given
    posteriors calibrated for class shares ``prior`` ``(K,)``. Written out (ten lines) because no library in
    the stack has it."""
    est = prior.copy()
    for _ in range(iters):
        q = probs * (est / prior)
        q /= q.sum(1, keepdims=True)
        new = q.mean(0)
        done = np.abs(new - est).max() < tol
        est = new
        if done:
            break
    return est


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def read(run: str, data_dir: str) -> dict:
    m = json.loads((Path(run) / "metrics.json").read_text())
    if m["task"] == MULTILABEL:
        raise SystemExit(f"{run}: only single-label tasks (binary, multi-class, ordinal), not {m['task']}")
    data = np.load(Path(data_dir) / f"{m['dataset']}.npz")
    predictor = medtrain.load(run, calibrated=False)  # the run's TTA and folded decision rule, as predict applies them
    out = {"dataset": m["dataset"], "seed": m["seed"]}
    probs = {}
    for split in ("val", "test"):
        y = data[f"{split}_labels"].reshape(-1).astype(int)
        p = predictor.predict(data[f"{split}_images"])
        k = p.shape[1]
        pred = p.argmax(1)
        probs[split] = (p, y)
        out[split] = {"prior": (np.bincount(y, minlength=k) / len(y)).tolist(),
                      "recall": [float((pred[y == c] == c).mean()) for c in range(k)],
                      "acc": float((pred == y).mean())}
    out["test_acc_if_only_prior_shifted"] = float(np.dot(out["test"]["prior"], out["val"]["recall"]))
    (pv, yv), (pt, _) = probs["val"], probs["test"]
    t, b = fit_bias(pseudo_logits(pv, m["task"]), yv, m["task"])
    out["em_test_prior"] = em_prior(_softmax(pseudo_logits(pt, m["task"]) / t + b),
                                    np.asarray(out["val"]["prior"])).tolist()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("MEDTRAIN_DATA", "../shared/data"))
    p.add_argument("runs", nargs="+", help="finished run directories (binary or multi-class)")
    args = p.parse_args()
    res = {r: read(r, args.data_dir) for r in args.runs}
    f = lambda v: "/".join(f"{x:.3f}" for x in v)  # noqa: E731
    for r, v in res.items():
        print(f"{r}: class shares val {f(v['val']['prior'])} test {f(v['test']['prior'])} (EM from test images "
              f"{f(v['em_test_prior'])}); recall val {f(v['val']['recall'])} test {f(v['test']['recall'])}; ACC val "
              f"{v['val']['acc']:.3f} test {v['test']['acc']:.3f}, {v['test_acc_if_only_prior_shifted']:.3f} "
              "if only the shares had moved")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
