"""``medtrain eval RUN --vs OTHER``: two finished runs compared on the same test images, paired.

A seed-to-seed comparison (``medtrain compare``) needs several runs of each; a reader with one model of each
kind (theirs and a colleague's, a new recipe and the old) asks whether the test set can tell them apart.
Both runs' saved test predictions (``predictions_test.csv``, the probabilities their own ``metrics.json``
scores) are compared image by image: the difference in AUC and ACC (RUN minus OTHER) with a paired bootstrap
interval (MOVER's, Newcombe's interval of each AUC with DeLong's correlation, for a binary AUC with few images
of a class), DeLong's test for a binary task's AUCs and
McNemar's exact test for the accuracies
(:mod:`medtrain.significance`). The result is written to ``RUN/eval_vs_<other>.json``.

A comparison with a degenerate run says so, in its printed lines and in the JSON's ``caveats``
(:func:`caveats`): a run that calls every test image one class (the case of its own summary's note "the network
calls every image one class", :data:`medtrain.metrics.ONE_CLASS`) has that class's share of the images as its
ACC, so an ACC "gain" with McNemar's p < 0.05 had been printed for a run answering the majority class for all
156 BreastMNIST test images (0.7308 vs 0.6218); an AUC undefined for lack of a class, or over scores that are
not finite, is said too.

The two runs must have scored the same test images with the same labels: the SHA-256 digests their
``metrics.json`` recorded (:mod:`medtrain.provenance`) must agree; for runs written before digests, their
labels (and patients) are compared instead, and the result says so.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np

from medtrain import metrics as M
from medtrain._predictions_csv import read_saved
from medtrain.errors import MedtrainError
from medtrain.runscores import write_eval_file
from medtrain.external import evaluate_external, external_name, readable_name
from medtrain.intervals import FEW_FOR_AUC, repeated
from medtrain.reports.summary import auc_undefined_text
from medtrain.rundir import METRICS_FILE, is_finished, load_config, read_metrics
from medtrain.significance import delong_test, mcnemar_test, mover_interval, paired_bootstrap
from medtrain.tasks import BINARY, MULTILABEL, class_names


def versus_file(other: str | os.PathLike, data: str | os.PathLike | None = None, split: str = "test") -> str:
    """``eval_vs_<folder>-<run>_<hash>.json``: the other run's folder and its parent, to read, and 8 hex digits
    of its whole resolved path (and of the external data's and split's), so that two comparisons never share a
    file (runs/x/a/seed0 and runs/y/a/seed0 had both written eval_vs_a-seed0.json); ``..._on_<data>_...`` on
    external data."""
    p = Path(other).resolve()
    name = f"{p.parent.name}-{p.name}" if p.parent.name else p.name
    on = f"_on_{readable_name(data, split)}" if data is not None else ""  # (the tag below tells data apart)
    key = f"{p}\0{Path(data).resolve() if data is not None else ''}\0{split if data is not None else ''}"
    tag = hashlib.blake2b(key.encode(), digest_size=4).hexdigest()
    return "eval_vs_" + re.sub(r"[^A-Za-z0-9._=-]+", "_", name + on) + f"_{tag}.json"


def _finished(run_dir: Path) -> None:
    if not is_finished(run_dir):
        folds = sorted(d.name for d in run_dir.glob("fold*") if is_finished(d))
        where = f"; compare its fold runs ({', '.join(folds[:3])}{', ...' if len(folds) > 3 else ''})" if folds else ""
        raise MedtrainError(f"{run_dir}: not a finished run (no {METRICS_FILE}){where}")


def _read(run_dir: Path, which: str = "test") -> tuple[dict, object]:
    _finished(run_dir)
    return read_metrics(run_dir), read_saved(run_dir, which)


def _same_data(run: Path, other: Path, m_run: dict, m_other: dict, s_run, s_other, external: bool = False) -> str:
    """How the two runs' predictions were found to be of the same images: ``sha256`` (their recorded test
    digests), ``labels`` (runs from before digests: labels, patients and input names) or, for ``external``
    data both were scored on now, ``external data, scored now``; an error where they are not comparable."""
    if m_run.get("task") != m_other.get("task"):
        raise MedtrainError(f"{run} is a run of task {m_run.get('task')} and {other} of task {m_other.get('task')}: "
                            "not comparable")
    classes = [(m.get("data") or {}).get("classes") for m in (m_run, m_other)]
    if None not in classes and classes[0] != classes[1]:
        raise MedtrainError(f"{run} and {other} have other classes ({', '.join(map(str, classes[0]))} vs "
                            f"{', '.join(map(str, classes[1]))}): not comparable")
    digests = [((m.get("provenance") or {}).get("data_sha256") or {}).get("test") for m in (m_run, m_other)]
    if not external and None not in digests:  # of the images and labels in their order: equal ones, the same rows
        if digests[0] != digests[1]:
            raise MedtrainError(f"{run} and {other} were scored on different test images (SHA-256 {digests[0][:12]}... "
                                f"and {digests[1][:12]}...); a paired comparison needs the same test set")
        return "sha256"  # (names may differ: a fold run of an .npz names image 0 'test/0')
    same_inputs = None in (s_run.inputs, s_other.inputs) or s_run.inputs == s_other.inputs  # as predictions name them
    if not (s_run.labels.shape == s_other.labels.shape and np.array_equal(s_run.labels, s_other.labels)
            and s_run.groups == s_other.groups and same_inputs):
        raise MedtrainError(f"{run} and {other} were scored on different {'inputs' if external else 'test images'} "
                            "(their labels or inputs differ); a paired comparison needs the same images")
    return "external data, scored now" if external else "labels"


def _correct(labels: np.ndarray, scores: np.ndarray, task: str) -> np.ndarray:
    """Each image's outcome under MedMNIST's ACC (argmax; 0.5 for a binary task's one column)."""
    return M.predictions(scores, task) == labels


def compare_runs(run_dir: str | os.PathLike, other: str | os.PathLike, data: str | os.PathLike | None = None,
                 split: str = "test", verbose: bool = True, skip_bad: bool = False) -> dict:
    """``run_dir`` against ``other`` on their shared test split, or with ``data`` on labelled external data
    (both scored on it now, :func:`medtrain.external.evaluate_external`, its ``split`` for an .npz); writes and
    returns ``eval_vs_<parent>-<other>[_on_<data>]_<hash>.json`` (:func:`versus_file`): ``auc`` and ``acc``, each with both values, the
    ``difference`` (run minus other), its paired bootstrap ``difference_ci`` and, where images are
    independent, a ``p`` value and the test that gave it. A binary task of independent images whose rarer
    class has fewer than :data:`medtrain.intervals.FEW_FOR_AUC` (30) images (:func:`medtrain.metrics.few_for_auc`,
    the switch of a run's own AUC interval to Newcombe's) takes the AUC difference's interval from MOVER instead
    (``difference_ci_method`` ``"mover"``, :func:`medtrain.significance.mover_interval`): with 12 positives the
    paired bootstrap's held the true difference in 83-91% of simulated test sets, DeLong's ``d +- z se`` in
    86-91% (12-20 positives), MOVER's in 97-99%, at 1.3-2.1 times DeLong's width; patients keep the
    bootstrap."""
    run, oth = Path(run_dir), Path(other)
    if run.resolve() == oth.resolve():
        raise MedtrainError(f"--vs {other} is the run itself")
    which = "test"  # the predictions file compared: predictions_<which>.csv
    if data is not None:  # which model carries over to another site: both scored on its images now
        for r in (run, oth):
            _finished(r)
        for r in (run, oth):
            evaluate_external(r, data, split=split, verbose=False, skip_bad=skip_bad)
        # (external.external_predictions_file): named by the data's resolved path, never another's of its file name
        which = f"external_{external_name(data, split)}"
    (m_run, s_run), (m_oth, s_oth) = _read(run, which), _read(oth, which)
    checked = _same_data(run, oth, m_run, m_oth, s_run, s_oth, external=data is not None)
    task, y = m_run.get("task"), s_run.labels
    if task != MULTILABEL and len(np.unique(y)) < 2:
        raise MedtrainError(f"the test split of {run} holds one class only: AUC and its difference are undefined")
    cfg = load_config(run)
    # the same draws in either order of the runs: swapped, the interval is the mirror image
    draws = max(cfg.bootstrap, load_config(oth).bootstrap)
    grouped = repeated(s_run.groups)
    where = f"external {data}" + (f" ({split} split)" if data is not None and Path(data).suffix.lower() == ".npz" else "")
    res = {"split": "test" if data is None else where, "n": int(len(y)), "run": str(run),
           "other": str(oth), "same_test_set": checked,
           "bootstrap": int(draws), "patients": len(set(s_run.groups)) if grouped else None}
    res.update(paired_difference(y, s_run.scores, s_oth.scores, task, draws, s_run.groups if grouped else None))
    classes = (m_run.get("data") or {}).get("classes") or []
    names = tuple([str(c) for c in (m.get("data") or {}).get("classes") or []] for m in (m_run, m_oth))
    if task == BINARY and (at := at_operating_points(y, names, (m_run, m_oth), (s_run, s_oth), grouped)):
        res["operating_points"] = at
    if task == MULTILABEL:  # the mean over labels hides labels that move apart: each label's own difference
        labels = names[0] or [str(j) for j in range(np.asarray(y).shape[1])]  # (a metrics.json without classes)
        res["per_label"] = per_label(y, s_run.scores, s_oth.scores, labels, draws, s_run.groups if grouped else None)
        if calls := label_calls(y, labels, (m_run, m_oth), (s_run, s_oth), grouped):
            for name, r in calls.items():
                res["per_label"][name]["at_operating_points"] = r
            res["label_operating_points"] = {k: {"rule": m["operating_point"]["rule"]} if m.get("operating_point")
                                             else None for k, m in (("run", m_run), ("other", m_oth))}
    if said := caveats(y, s_run.scores, s_oth.scores, task, {str(j): c for j, c in enumerate(classes)}):
        res["caveats"] = said
    if verbose:
        print(versus_summary(res))
    write_eval_file(run, versus_file(oth, data, split), res, verbose)
    return res


def paired_difference(y: np.ndarray, a: np.ndarray, b: np.ndarray, task: str, draws: int,
                      groups: list | None = None) -> dict:
    """AUC and ACC of scores ``a`` against ``b`` on the same images (labels ``y``; scores ``(N, C)``): for each,
    both values, the ``difference`` (a minus b) and its paired bootstrap ``difference_ci`` over ``draws``
    resamples (of whole patients where ``groups`` are given), and, where images are independent, the ``test`` and
    its ``p`` (DeLong's for a binary AUC, with MOVER's interval where a class has few images; McNemar's exact
    test for ACC); ``p_values`` says why a p-value is not given. :func:`compare_runs`' numbers, and those of two
    cross-validated comparison cells' pooled out-of-fold predictions (``medtrain compare``)."""
    res: dict = {}
    for name, stat in (("auc", lambda t, s: M.auc(t, s, task)), ("acc", lambda t, s: M.acc(t, s, task))):
        boot = paired_bootstrap(y, a, b, stat, n=draws, seed=0, groups=groups)
        res[name] = {"run": float(stat(y, a)), "other": float(stat(y, b)), **boot, "test": None, "p": None}
    if groups is not None:
        res["p_values"] = ("not given: several images per patient are not independent, as DeLong's and McNemar's "
                           "tests assume; the interval resamples whole patients")
    else:
        if task == BINARY:
            d = delong_test(y, a[:, -1], b[:, -1])
            res["auc"].update(test="DeLong", p=d["p"], se=d["se"])
            if draws and M.few_for_auc(y, task):
                # few images of a class: the paired bootstrap's draws miss 1/u of each class's variance, and
                # DeLong's symmetric d +- z se is too narrow near an AUC of 1 (none at all for two AUCs of 1)
                mv = mover_interval(y, a[:, -1], b[:, -1])
                res["auc"].update(difference_ci=mv["difference_ci"], difference_ci_method="mover",
                                  difference_ci_reason=M.FEW_FOR_AUC_REASON, r=mv["r"])
                res["auc"].pop("difference_ci_draws", None)
        elif task == MULTILABEL:
            res["p_values"] = ("of the mean over labels not given: DeLong's and McNemar's tests are for one label "
                               "(each label's own are on its line); the mean has its paired interval only")
        else:
            res["p_values"] = ("for AUC not given: DeLong's test is for a binary task's AUC; the mean one-vs-rest AUC "
                               "has its paired interval only")
        if task != MULTILABEL:
            mc = mcnemar_test(_correct(y, a, task), _correct(y, b, task))
            res["acc"].update(test="McNemar exact", p=mc["p"], run_only_correct=mc["a_only"],
                              other_only_correct=mc["b_only"])
    return res


def per_label(y: np.ndarray, a: np.ndarray, b: np.ndarray, names: list, draws: int, groups: list | None) -> dict:
    """A multi-label pair's differences label by label: each label's AUC and ACC (at 0.5) as a binary task's
    (:func:`paired_difference` on its column: DeLong's and McNemar's tests where images are independent, MOVER's
    interval where it has few positives or negatives); the mean over labels had been all ``eval --vs`` said (+0.016
    of labels moved by +0.092, +0.115 and -0.157). A label never (always) positive here: ``undefined``."""
    out = {}
    for j, name in enumerate(names):
        t = np.asarray(y)[:, j].astype(int)
        if t.min() == t.max():
            out[str(name)] = {"undefined": "never positive" if t.max() == 0 else "positive in every image"}
            continue
        column = [np.column_stack([1 - s[:, j], s[:, j]]) for s in (a, b)]
        out[str(name)] = paired_difference(t, *column, BINARY, draws, groups)
    return out


def _label_lines(per: dict, ops: dict | None = None) -> list[str]:
    """:func:`per_label`'s lines: one per label, AUC then ACC, each with its interval; ``ops``: the runs' rules."""
    def said(r: dict) -> str:
        lo, hi = r["difference_ci"]
        ci = f" [{lo:+.3f}, {hi:+.3f}]" if np.isfinite(lo) else ""
        return (f"{r['run']:.4f} vs {r['other']:.4f}: {r['difference']:+.4f}{ci}"
                + (f", {r['test']} p = {r['p']:.3g}" if r.get("p") is not None else ""))

    lines = [f"  per label (each interval and p its own: of {len(per)} labels, one may leave out 0 by chance):"]
    if ops:
        rules = [f"{k}: {op['rule']}, a threshold per label" if op else f"{k}: none, its calls at 0.5"
                 for k, op in zip(("first", "second"), (ops.get("run"), ops.get("other")))]
        lines.append(f"    (at their operating points: {'; '.join(rules)})")
    for name, r in per.items():
        lines.append(f"    {name}: AUC undefined ({r['undefined']} in these images)" if "undefined" in r else
                     f"    {name}: AUC {said(r['auc'])}; ACC {said(r['acc'])}")
        at = r.get("at_operating_points")
        if at:  # each run's calls at its own threshold (0.5 without one): the rates it deploys
            lines.append(f"      at their operating points: calls differ on {at['calls_differ']} image(s); "
                         + "; ".join(f"{k} {at[k]['run']:.3f} vs {at[k]['other']:.3f}" + (
                             f" (McNemar p = {at[k]['p']:.3g})" if at[k].get("p") is not None else "")
                             for k in ("sensitivity", "specificity") if at[k]["run"] is not None))
    return lines


def _op_said(op: dict | None) -> dict | None:
    return {k: op.get(k) for k in ("rule", "threshold", "positive_class")} if op else None


def at_operating_points(y: np.ndarray, names: tuple, metrics: tuple, saved: tuple, grouped: bool) -> dict | None:
    """Two binary runs compared where they decide, where either has an operating point (``metrics``: both runs'
    ``metrics.json``; ``saved``: their :class:`~medtrain._predictions_csv.SavedPredictions`): each run's calls at its
    own threshold (its file's ``prediction_at_operating_point``; a run without one, at 0.5), read as calls of the
    first operating point's positive class, and the sensitivity and specificity they give, paired image by image with
    McNemar's exact test on the positives and on the negatives (none where images repeat a patient), and on how many
    images the calls differ. ``names``: each run's class names (a decision names a class of its own run's, read
    by its index: two runs of one data may name them apart). None where neither run has one, or a file predates the
    decisions' column. Two runs
    with their own thresholds had been said to "make the same call on every image" (at 0.5) while their deployed
    calls differed on 44 of 120 (a reader's walk)."""
    ops = [m.get("operating_point") for m in metrics]
    if not any(ops) or any(op and s.decisions is None for op, s in zip(ops, saved)) or not all(names):
        return None
    first = next(i for i, op in enumerate(ops) if op)
    positive = ops[first].get("positive_class", names[first][-1])
    if positive not in names[first]:
        return None
    index = names[first].index(positive)
    is_pos = np.asarray(y).reshape(-1) == index
    called = [np.array([own.index(d) == index if d in own else False for d in s.decisions]) if op else
              M.predictions(s.scores, BINARY) == index for op, s, own in zip(ops, saved, names)]
    out = {"positive_class": positive, "run": _op_said(ops[0]), "other": _op_said(ops[1])}
    return {**out, **_paired_calls(is_pos, *called, grouped)}


def _paired_calls(is_pos: np.ndarray, a_called: np.ndarray, b_called: np.ndarray, grouped: bool) -> dict:
    """Two runs' calls of one class (or label) on the same images: how many differ, and the sensitivity and
    specificity each gives, paired with McNemar's exact test on the positives and on the negatives (none where
    images repeat a patient)."""
    out: dict = {"calls_differ": int((a_called != b_called).sum())}
    for name, among, right in (("sensitivity", is_pos, lambda c: c), ("specificity", ~is_pos, lambda c: ~c)):
        a, b = right(a_called)[among], right(b_called)[among]
        r = {"n": int(among.sum()), "run": float(a.mean()) if among.any() else None,
             "other": float(b.mean()) if among.any() else None}
        r["difference"] = r["run"] - r["other"] if among.any() else None
        if among.any() and not grouped:
            mc = mcnemar_test(a, b)
            r.update(test="McNemar exact", p=mc["p"], run_only_correct=mc["a_only"], other_only_correct=mc["b_only"])
        out[name] = r
    return out


def label_calls(y: np.ndarray, names: list, metrics: tuple, saved: tuple, grouped: bool) -> dict | None:
    """Two multi-label runs compared label by label where they decide, where either has an operating point: each
    run's calls of a label at its own threshold (its file's ``prediction_at_operating_point``; a run without one, at
    0.5), paired as :func:`_paired_calls`. None where neither has one or a file predates the decisions' column."""
    ops = [m.get("operating_point") for m in metrics]
    if not any(ops) or any(op and s.decisions is None for op, s in zip(ops, saved)):
        return None
    called = [np.array([[n in str(d).split(";") for n in names] for d in s.decisions]) if op else
              M.predictions(s.scores, MULTILABEL).astype(bool) for op, s in zip(ops, saved)]
    y = np.asarray(y).astype(bool)
    return {str(n): _paired_calls(y[:, j], called[0][:, j], called[1][:, j], grouped) for j, n in enumerate(names)}


def _op_lines(at: dict) -> list[str]:
    """The printed lines of :func:`at_operating_points`."""
    def rule(op):
        return (f"{op['rule']}, threshold {op['threshold']:.4f}, positive class {op.get('positive_class')!r}" if op
                else "none: its calls at 0.5")
    pos = at["positive_class"]
    lines = [f"  at their operating points (first: {rule(at['run'])}; second: {rule(at['other'])}), as calls of "
             f"{pos!r}: they differ on {at['calls_differ']} image(s)"]
    for name in ("sensitivity", "specificity"):
        r = at[name]
        if r["run"] is None:
            lines.append(f"    {name} – (no image {'of' if name == 'sensitivity' else 'outside'} {pos!r})")
            continue
        among = "positives" if name == "sensitivity" else "negatives"
        p = (f", McNemar exact p = {r['p']:.3g} (of the {r['n']} {among}: {r['run_only_correct']} right only in the "
             f"first, {r['other_only_correct']} only in the second)") if r.get("p") is not None else ""
        lines.append(f"    {name} {r['run']:.3f} vs {r['other']:.3f}: {r['difference']:+.3f}{p}")
    given = {op.get("positive_class") for op in (at["run"], at["other"]) if op}
    if len(given) > 1:
        lines.append(f"    (the runs' operating points name different positive classes, "
                     f"{' and '.join(map(repr, sorted(given)))}: both runs' calls are read as calls of {pos!r})")
    return lines


def caveats(y: np.ndarray, run_scores: np.ndarray, other_scores: np.ndarray, task: str,
            label_names: dict) -> list[dict]:
    """Why a difference of :func:`compare_runs` is no finding, one dict per ``metric`` (``"acc"``, ``"auc"``):
    its ``reason`` (:data:`medtrain.metrics.ONE_CLASS`, ``"auc undefined"``, ``"scores not finite"``), the
    ``runs`` it is of (``"run"``, ``"other"``) and a ``text`` printed under the metric's line.

    A run whose decisions name one class for every image (:func:`medtrain.metrics.calls_one_class`:
    the test :func:`medtrain.metrics.acc_auc_ci` makes for the run's own note "the network calls every image
    one class", where, as here, the labels hold two classes or more) scores that class's share of the images as
    its ACC: the ACC difference and McNemar's p then compare a constant answer with the other run, not two
    classifiers. Its AUC, which ranks the scores, stays comparable."""
    names = class_names(label_names, run_scores.shape[1])

    def name(j) -> str:
        return names[int(j)]

    out, sides = [], (("run", "first", run_scores), ("other", "second", other_scores))
    one = [(key, word, int(M.predictions(s, task)[0])) for key, word, s in sides if M.calls_one_class(s, task)]
    if one:
        counts = np.bincount(np.asarray(y).reshape(-1), minlength=run_scores.shape[1])
        if len(one) == 2:
            what = (f"'{name(one[0][2])}', {counts[one[0][2]]} of {len(y)} images" if one[0][2] == one[1][2] else
                    "; ".join(f"the {word} '{name(c)}', {counts[c]} of {len(y)} images" for _, word, c in one))
            text = (f"both runs call every test image one class ({what}): each ACC is its class's share of the "
                    "images, so the ACC difference and its p-value compare two constant answers, not two classifiers")
        else:
            (_, word, c), = one
            text = (f"the {word} run calls every test image one class ('{name(c)}', {counts[c]} of {len(y)} "
                    f"images): its ACC is that class's share of the images, what always answering '{name(c)}' "
                    f"scores, so the ACC difference and its p-value measure the "
                    f"{'second' if word == 'first' else 'first'} run against that constant answer, not a better "
                    "classifier")
        out.append({"metric": "acc", "reason": M.ONE_CLASS, "runs": [key for key, _, _ in one],
                    "classes": [name(c) for _, _, c in one], "text": text})
    undefined = M.auc_undefined(y, run_scores, task, label_names)
    if undefined:  # of the labels, the same for both runs: why, without either run's mean over the other classes
        why = auc_undefined_text({"auc_undefined": {**undefined, "mean_over_rest": None}}, "the compared images")
        out.append({"metric": "auc", "reason": "auc undefined", "runs": ["run", "other"],
                    "text": f"the AUC is undefined for both runs ({why}): no AUC difference"})
    bad = [(key, word) for key, word, s in sides if not np.isfinite(s).all()]
    if bad:
        out.append({"metric": "auc", "reason": "scores not finite", "runs": [key for key, _ in bad],
                    "text": f"the {' and the '.join(w for _, w in bad)} run{'s' if len(bad) > 1 else ''} scored "
                            "some images NaN or infinite (a diverged network): no AUC difference"})
    return out


def versus_summary(res: dict) -> str:
    """The printed lines of :func:`compare_runs`."""
    unit = (f"{res['n']} test images" if res["split"] == "test" else f"{res['n']} images of {res['split']}") + (
        f" of {res['patients']} patients" if res["patients"] else "")
    lines = [f"{res['run']} vs {res['other']} on the same {unit} (paired; difference = first - second):"]
    for name in ("auc", "acc"):
        r = res[name]
        lo, hi = r["difference_ci"]
        ci = (f" [{lo:+.3f}, {hi:+.3f}]" if np.isfinite(lo) else " (no interval: bootstrap 0)" if not res["bootstrap"]
              else " (no interval: the draws cannot differ)")
        if r.get("run_only_correct") == 0 == r.get("other_only_correct"):  # a point interval, and why
            ci = " (the two runs make the same call on every image" + (
                " at 0.5: their operating points below)" if "operating_points" in res else ")")
        p = f", {r['test']} p = {r['p']:.3g}" if r["p"] is not None else ""
        extra = (f" ({r['run_only_correct']} images right only in the first, {r['other_only_correct']} only in the "
                 "second)") if "run_only_correct" in r else ""
        if r.get("difference_ci_method") == "mover" and np.isfinite(lo):
            ci += (" (MOVER interval, Newcombe's interval of each AUC with DeLong's correlation: fewer than "
                   f"{FEW_FOR_AUC} images of a class, too few for the paired bootstrap's or DeLong's to hold 95%; it "
                   "errs wide, so it may hold 0 where DeLong's p is below 0.05)")
        lines.append(f"  {name.upper()} {r['run']:.4f} vs {r['other']:.4f}: {r['difference']:+.4f}{ci}{p}{extra}")
        # right under the line it qualifies: a difference of a degenerate run is not read without its caveat
        lines += [f"    caveat: {c['text']}" for c in res.get("caveats", ()) if c["metric"] == name]
    if "operating_points" in res:
        lines += _op_lines(res["operating_points"])
    if "per_label" in res:
        lines += _label_lines(res["per_label"], res.get("label_operating_points"))
    if "p_values" in res:
        lines.append(f"  p-values {res['p_values']}")
    if res["same_test_set"] == "labels":
        lines.append("  (the test sets were matched by their labels only: a run lacks the data digest)")
    return "\n".join(lines)
