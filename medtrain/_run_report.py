"""The report-writing tail of a finished run (:func:`medtrain.rundir.write_run` calls it; every name is
re-exported by :mod:`medtrain.rundir`): the data summary ``metrics.json["data"]`` and the report show, the
augmentation policies it trained with (``metrics.json["augment_policy"]``, :func:`policy_summary`), the
calibration plots (``reliability.png``, ``roc_pr.png``) and ``report.html``, with the file names of the plots and
the report."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from medtrain._io import write_text
from medtrain._io.run_files import eval_file, read_metrics
from medtrain.errors import MedtrainError
from medtrain.tasks import BINARY, MULTICLASS, MULTILABEL, ORDINAL, class_names, one_vs_rest

LEARNING_CURVE_FILE = "learning_curve.png"
CONFUSION_FILE = "confusion_matrix.png"
RELIABILITY_FILE = "reliability.png"  #: reliability diagram, validation and test, before/after temperature scaling
ROC_PR_FILE = "roc_pr.png"  #: test ROC and precision-recall curves (multi-class: each class against the rest), operating points
REPORT_FILE = "report.html"  #: the self-contained HTML report of everything above
#: ``eval_test.json``'s word on its numbers that the run's report shows above its results (a search's former best)
REPORT_NOTE = "report_note"


def data_summary(splits) -> dict:
    """What the report's data section shows: source, shape, class (multi-label: label) counts per split and,
    for grouped data (the split record's patient hashes, or ``splits.extra["groups"]``: ``{split: [id per
    image]}``), the number of groups (patients) per split, per class (``patients_per_class``: a patient counts
    under every class one of its images has) and how many appear in more than one split."""
    names = class_names(splits.label_names, splits.num_classes)
    rows = []
    for name in ("train", "val", "test"):
        labels = splits.split(name).labels.numpy()
        counts = (labels.sum(0) if labels.ndim == 2 else np.bincount(labels.astype(int), minlength=len(names)))
        rows.append({"name": name, "n": len(labels), "counts": [int(c) for c in counts]})
    out = {"source": splits.source or splits.name, "task": splits.task, "shape": [splits.in_chans,
           *splits.spatial_shape], "classes": names, "splits": rows}
    skipped = splits.extra.get("skipped") or []
    if skipped:  # the flow of data: how many inputs were listed, left out (--skip-bad) and why, and used
        used = sum(r["n"] for r in rows)
        out["flow"] = {"listed": used + len(skipped), "excluded": len(skipped), "used": used,
                       "excluded_examples": [{"input": str(x["path"]), "reason": str(x["reason"])} for x in skipped[:5]]}
    if splits.extra.get("intensity"):  # DICOM/NIfTI: how many looked like CT in HU, and the rule that mapped them
        out["intensity"] = splits.extra["intensity"]  # (data.intensity.intensity_record)
    if splits.extra.get("duplicates"):  # pixel-identical images within and across splits (data/duplicates.py)
        out["duplicates"] = splits.extra["duplicates"]
    if splits.extra.get("images"):  # what --image-size did to the image files (data/_survey.py FACTS)
        out["images"] = splits.extra["images"]
    groups = splits.extra.get("groups")
    record = getattr(splits, "record", None)
    if not groups and record is not None and record.groups is not None:  # patient-grouped data (data/table.py)
        groups = {name: [g for g, a in zip(record.groups, record.assign) if int(a) == i]
                  for i, name in enumerate(("train", "val", "test"))}
    if groups:
        sets = {k: set(map(str, v)) for k, v in groups.items()}
        out["groups"] = {k: len(v) for k, v in sets.items()}
        out["shared_groups"] = len({g for k, v in sets.items() for g in v if any(g in w for j, w in sets.items()
                                                                                    if j != k)})
        per_class = _patients_per_class(splits, groups, len(names))
        if per_class:
            out["patients_per_class"] = per_class
    return out


def policy_summary(config: dict, started: dict | None = None) -> list[dict]:
    """``metrics.json``'s ``augment_policy``, which the report's Configuration section shows one line per sub-policy:
    each policy file among ``config``'s ``augment`` as the run trained with it
    (:func:`medtrain.augment.policy_spec.policy_record`: ``file``, ``sha256``, ``policy`` its content as parsed). One
    gone, unreadable or changed since the run started (``started``: ``choices.json``'s ``{path: sha256}``) keeps
    that digest, with ``policy`` None and why (``unread``): the run's outputs are written all the same. Empty for a
    run without a policy file, and for a linear probe (:func:`unread_settings`: it never read ``augment``)."""
    from medtrain.augment.policies import is_policy_file
    from medtrain.augment.policy_spec import policy_record

    if "augment" in unread_settings(config):
        return []
    started, out = started or {}, []
    for path in (str(p) for p in config.get("augment") or () if is_policy_file(p)):
        try:
            rec = policy_record(path)
        except MedtrainError as e:
            rec = {"file": path, "sha256": started.get(path), "policy": None, "unread": str(e)}
        if started.get(path) not in (None, rec["sha256"]):  # edited while it trained: not what trained it
            rec = {"file": path, "sha256": started[path], "policy": None, "unread": "changed since the run started"}
        out.append(rec)
    return out


def augment_settings(config: dict, grey: bool = False) -> dict:
    """``metrics.json``'s ``augment_settings``: each op of ``config``'s ``augment`` with every setting it reads, at the
    value it was built with: what the run's settings gave it (``augment_params``, or a flag of its own such as
    ``cutmix_alpha``: training hands the ops ``{**config, **augment_params}``), else the op's default
    (:func:`medtrain.augment.catalogue.op_settings`). config.yaml keeps what was given; the defaults used had been
    written nowhere (a ``jitter`` run recorded ``augment_params = {}``). Empty where no op was read (a linear probe);
    ``grey`` images: less the settings that act on colour alone, which such a run never applies."""
    from medtrain.augment import available
    from medtrain.augment.catalogue import op_settings
    from medtrain.augment.intensity import COLOUR_SETTINGS
    from medtrain.augment.policies import is_policy_file

    if "augment" in unread_settings(config):
        return {}
    given = {**config, **(config.get("augment_params") or {})}
    plain = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731  (JSON has no tuples)
    # a policy YAML named by its path: built as the 'policy' op, less the file it names itself
    read = {op: op_settings(op) if op in available() else
            {k: v for k, v in op_settings("policy").items() if k != "policy_file"}
            for op in config.get("augment") or () if op in available() or is_policy_file(op)}
    return {op: {k: plain(given[k] if k in given else v) for k, v in settings.items()
                 if not (grey and k in COLOUR_SETTINGS)} for op, settings in read.items()}


def _patients_per_class(splits, groups: dict, k: int) -> dict | None:
    """``{split: [patients per class]}``: the patients (groups) of a split with at least one image of each class
    (multi-label: carrying each label), so a patient with images of two classes counts under both; None where a
    split's groups do not line up with its images."""
    out = {}
    for name in ("train", "val", "test"):
        labels = splits.split(name).labels.numpy()
        ids = [str(g) for g in groups.get(name) or []]
        if len(ids) != len(labels):
            return None
        has = labels.astype(bool) if labels.ndim == 2 else labels.astype(int)[:, None] == np.arange(k)
        out[name] = [len({g for g, x in zip(ids, has[:, c]) if x}) for c in range(k)]
    return out


def write_report(run_dir: Path, config: dict, metrics: dict, note: str = "") -> None:
    """``report.html`` from the run's settings (shown as applied, less a linear probe's unread ones:
    :func:`medtrain.reports._html_settings.settings_shown`), its ``metrics.json`` content and the plots written beside it;
    ``note`` (plain text, e.g. a search's word on its trial) is shown above the results. Every external site
    scored so far (``eval_external_*.json`` and its figures: :func:`medtrain._external_report.external_blocks`) is
    shown in its "External testing" section: ``medtrain eval --data`` writes the report again after each.
    A run trained with its test split held back (a search's trial) and evaluated on it later (``eval_test.json``)
    shows that evaluation, and its :data:`REPORT_NOTE`, where ``note`` gives none: ``eval --data`` on a search's
    best trial had written its report again without the test numbers the search had put in it, and without the
    search's note on a former best."""
    from medtrain._external_report import external_blocks, target_missed
    from medtrain.reports.html import run_report

    metrics, note = _with_later_test(Path(run_dir), metrics, note)
    op = metrics.get("operating_point") or {}
    test_missed = target_missed({**op["test"], "rule": op.get("rule")}, "On the test split") \
        if isinstance(op.get("test"), dict) else ""

    images = {"learning_curve": LEARNING_CURVE_FILE, "roc_pr": ROC_PR_FILE, "reliability": RELIABILITY_FILE,
              "confusion": CONFUSION_FILE}
    html = run_report(config, metrics, {k: Path(run_dir) / f for k, f in images.items()}, metrics.get("data"),
                      note=note, unread=unread_settings(config), external=external_blocks(Path(run_dir)),
                      test_missed=test_missed)
    write_text(Path(run_dir) / REPORT_FILE, html)


def tested_metrics(metrics: dict, res: dict) -> dict:
    """A trial's ``metrics.json`` content (trained without its test split) with its later test evaluation ``res``
    (``eval_test.json``'s content) where the held-back test block was, arranged as :func:`medtrain.rundir.write_run`
    arranges a trained run's: the calibration and operating-point figures under ``calibration.test`` and
    ``operating_point.test``, and the data table's test row counted from the evaluation (its images, each class's
    support), not the 0 images the trial trained with. For the run's report only: ``metrics.json`` stays as the
    trial wrote it (its empty ``test`` is what says no trial saw the test split). (Here, beside the report's
    writer, which folds a run's later test evaluation in: :func:`write_report`.)"""
    m = copy.deepcopy(metrics)
    test = {k: v for k, v in res.items() if k not in ("calibration", "operating_point", "data_checked_by")}
    m["test"] = test
    if isinstance(res.get("calibration"), dict) and isinstance(m.get("calibration"), dict):
        m["calibration"]["test"] = {k: v for k, v in res["calibration"].items() if k != "temperature"}
    if res.get("operating_point") and isinstance(m.get("operating_point"), dict):
        m["operating_point"]["test"] = res["operating_point"]
    data, per_class = m.get("data"), test.get("per_class") or {}
    for row in (data.get("splits") or []) if isinstance(data, dict) else []:
        if row.get("name") == "test" and not row.get("n"):
            row["counts"] = [int((per_class.get(str(c)) or {}).get("support") or 0) for c in data.get("classes") or []]
            row["n"] = int(test.get("n") or sum(row["counts"]))
    if isinstance(m.get("sizes"), dict) and test.get("n"):
        m["sizes"]["test"] = test["n"]
    return m


def _with_later_test(run_dir: Path, metrics: dict, note: str) -> tuple[dict, str]:
    """``metrics`` with the run's later test evaluation folded in (:func:`tested_metrics`) where ``metrics.json``
    holds no test numbers and ``eval_test.json`` is there to read, and ``note`` or that evaluation's own."""
    if metrics.get("test"):
        return metrics, note
    if not (run_dir / eval_file("test")).is_file():  # the usual case
        return metrics, note
    try:
        res = read_metrics(run_dir, eval_file("test"))
    except MedtrainError:  # damaged: the report as the run left it (the evaluation's own reader names the file)
        return metrics, note
    if "auc" not in res:
        return metrics, note
    return tested_metrics(metrics, {k: v for k, v in res.items() if k != REPORT_NOTE}), note or str(
        res.get(REPORT_NOTE) or "")


def unread_settings(config: dict) -> tuple[str, ...]:
    """The settings a run of ``config`` never read, which its settings tables leave out (a run's report, a
    cross-validation's): a linear probe's, as train refuses them typed (one list, its owner's,
    :data:`medtrain.config.checks.PROBE_UNREAD`); none for a trained network."""
    from medtrain.config.checks import PROBE_UNREAD

    return PROBE_UNREAD if config.get("transfer") == "linear-probe" else ()


def _calibration_plots(splits, run_dir: Path, title: str, val: dict, test_scores, test_scaled, out: dict,
                       threshold, rule, positive: int) -> None:
    """``reliability.png`` (validation and test, before/after scaling) and ``roc_pr.png``: a binary task's, a
    multi-class (or ordinal) task's, one curve per class against the rest, and a
    multi-label task's, one curve per label, each label's threshold marked where ``out``'s operating point puts it
    (its recorded test rates)."""
    from medtrain import metrics
    from medtrain.reports import plots

    cal, task = out["calibration"], splits.task
    panels = {}
    for name, labels, before, after in (("validation", splits.val.labels.numpy(), val["scores"], val["scores_scaled"]),
                                        ("test", splits.test.labels.numpy(), test_scores, test_scaled)):
        key = "val" if name == "validation" else name
        if before is not None and len(labels) and key in cal:
            bins = {k: metrics.reliability(labels, v, task, positive=positive) for k, v in (("before", before),
                                                                                             ("after", after))}
            # the legend's ECE is that of the curve drawn, metrics.ece's: calibration's for one label per image;
            # a multi-label curve pools every label's probabilities, whose ECE (0.033) is not the mean over labels
            # recorded in calibration (0.060), but metrics.ece of the pooled labels as one binary task
            pooled = {"ece": metrics.ece(labels.ravel(), np.ravel(before), BINARY),
                      "ece_scaled": metrics.ece(labels.ravel(), np.ravel(after), BINARY)} if task == MULTILABEL else {}
            panels[name] = {**bins, "temperature": cal["temperature"], **cal[key], **pooled,
                            "pooled": task == MULTILABEL,
                            "positive": splits.label_names[str(positive)] if task == BINARY else None}
    if panels:
        plots.reliability_diagram(panels, run_dir / RELIABILITY_FILE, title)
    if task == BINARY and test_scaled is not None and len(np.unique(splits.test.labels.numpy())) == 2:
        y = (splits.test.labels.numpy().reshape(-1) == positive).astype(int)  # the operating point's positive class
        plots.roc_pr(y, np.asarray(test_scaled)[:, positive], run_dir / ROC_PR_FILE, threshold,
                     rule or "", title + f" · test ({'calibrated ' if cal['temperature'] != 1 else ''}scores of "
                     f"{splits.label_names[str(positive)]!r})",  # T kept 1: the scores are the network's own
                     ((out.get("operating_point") or {}).get("test")))  # the test rates at it, as recorded
    elif task == MULTILABEL and test_scaled is not None and len(splits.test.labels):
        points = (((out.get("operating_point") or {}).get("test") or {}).get("per_label"))  # the test rates at
        plots.roc_pr_labels(splits.test.labels.numpy(), test_scaled,  # each label's threshold, as recorded
                            class_names(splits.label_names, np.shape(test_scaled)[1]), run_dir / ROC_PR_FILE, points,
                            rule or "",
                            title + f" · test ({'calibrated ' if cal['temperature'] != 1 else ''}scores, per label)")
    elif task in (MULTICLASS, ORDINAL) and test_scores is not None and len(splits.test.labels):
        # one class against the rest, the curves whose AUCs MedMNIST's multi-class AUC averages (none had been drawn),
        # of the network's own scores, as the test AUC and the per-class table: a temperature moves the softmax's
        # one-vs-rest rankings (their legend's class AUCs had differed from the table's by up to 0.014)
        names = class_names(splits.label_names, np.shape(test_scores)[1])
        plots.roc_pr_labels(one_vs_rest(splits.test.labels.numpy(), len(names)), test_scores, names,
                            run_dir / ROC_PR_FILE, None, "", title + " · test (scores, each class against the rest)",
                            unit="class")
