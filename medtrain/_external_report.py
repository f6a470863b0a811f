"""External testing in a run's ``report.html``: the figures of each external site, drawn when ``medtrain eval
--data`` scores it (:mod:`medtrain.external`), and what the report's "External testing" section shows of every
``eval_external_<name>.json`` in the run folder (:func:`external_blocks`; :func:`medtrain._run_report.write_report`
reads them, so every site scored so far is on the page, a site scored again shown once, with its newest scores).
A site's figures are named from its JSON's ``<name>``: ``roc_pr_external_<name>.png`` (binary and multi-label runs,
the operating point marked) and ``reliability_external_<name>.png`` (before and after the run's temperature)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from medtrain._io import read_metrics
from medtrain.reports.baselines import ci_text
from medtrain.reports.summary import auc_undefined_text
from medtrain.errors import MedtrainError
from medtrain.tasks import BINARY, MULTICLASS, MULTILABEL, ORDINAL, one_vs_rest

EXTERNAL_PREFIX = "eval_external_"  #: ``eval_external_<name>.json``, one per external site (medtrain.external)


def external_plot_files(name: str) -> dict[str, str]:
    """The figures of the external site ``name`` (its JSON's ``eval_external_<name>.json``), by the report's keys."""
    return {"roc_pr": f"roc_pr_external_{name}.png", "reliability": f"reliability_external_{name}.png"}


def draw_external_plots(run_dir: Path, name: str, task: str, labels, scores, scores_scaled, res: dict,
                        label_names, title: str) -> None:
    """The site's figures as the run's own test figures are drawn (:func:`medtrain._run_report._calibration_plots`):
    the reliability diagram before and after the run's temperature (where ``res`` has ``calibration``) and ROC /
    precision-recall with the run's frozen operating point marked at the site's rates (a binary run whose site has
    both classes; a multi-label run, one curve per label). A figure not drawn this time is removed, so an earlier
    scoring's figure is never shown beside these numbers."""
    from medtrain import metrics
    from medtrain.reports import plots

    files = {k: Path(run_dir) / f for k, f in external_plot_files(name).items()}
    labels, drawn = np.asarray(labels), set()
    cal, op = res.get("calibration"), res.get("operating_point") or {}
    shown = scores_scaled if scores_scaled is not None else scores
    names = [str(n) for n in label_names]
    positive = names.index(op["positive_class"]) if op.get("positive_class") in names else len(names) - 1
    if cal and scores is not None and scores_scaled is not None and len(labels):
        panel = {k: metrics.reliability(labels, v, task, positive=positive)
                 for k, v in (("before", scores), ("after", scores_scaled))}
        panel.update(temperature=cal["temperature"], ece=cal["ece"], ece_scaled=cal["ece_scaled"],
                     positive=names[positive] if task == BINARY else None)
        if task == MULTILABEL:  # one curve of every label pooled, its ECE that curve's (as the run's own diagram)
            panel.update(ece=metrics.ece(labels.ravel(), np.ravel(scores), BINARY), pooled=True,
                         ece_scaled=metrics.ece(labels.ravel(), np.ravel(scores_scaled), BINARY))
        plots.reliability_diagram({"external data": panel}, files["reliability"], title)
        drawn.add("reliability")
    scaled = "calibrated " if cal and cal.get("temperature") != 1 else ""
    if task == BINARY and shown is not None and len(np.unique(labels)) == 2:
        plots.roc_pr((labels.reshape(-1) == positive).astype(int), np.asarray(shown)[:, positive], files["roc_pr"],
                     op.get("threshold"), op.get("rule") or "",
                     f"{title} · external data ({scaled}scores of {names[positive]!r})", op or None)
        drawn.add("roc_pr")
    elif task == MULTILABEL and shown is not None and len(labels):
        plots.roc_pr_labels(labels, shown, names, files["roc_pr"],
                            op.get("per_label"), op.get("rule") or "", f"{title} · external data ({scaled}scores, per label)")
        drawn.add("roc_pr")
    elif task in (MULTICLASS, ORDINAL) and scores is not None and len(labels):
        # the network's own scores, as the site's AUC (a temperature moves one class's ranking against the rest)
        plots.roc_pr_labels(one_vs_rest(labels, len(names)), scores, names, files["roc_pr"], None, "",
                            f"{title} · external data (scores, each class against the rest)", unit="class")
        drawn.add("roc_pr")
    for key in set(files) - drawn:
        files[key].unlink(missing_ok=True)


def _side(target: float, rates: dict, kind: str) -> str:
    """``"above"`` or ``"below"``: where ``rates``' 95% interval of ``kind`` lies against ``target``; '' where it
    holds the target, or there is no interval (or an undefined one): nothing to say."""
    ci = rates.get(f"{kind}_ci")
    if not isinstance(ci, (list, tuple)) or not ci_text(ci):
        return ""
    return "above" if target < ci[0] else "below" if target > ci[1] else ""


#: what a rate above its target costs: the other rate of the pair, which the threshold trades it for
_TRADED = {"sensitivity": "specificity", "specificity": "sensitivity"}


def _rate(rates: dict, kind: str) -> str:
    value = rates.get(kind)
    shown = f"{value:.3f}" if isinstance(value, (int, float)) and math.isfinite(value) else ""
    return f"{shown}{ci_text(rates[f'{kind}_ci'])}".strip()


def target_missed(op: dict | None, where: str = "At this site") -> str:
    """One plain sentence where the operating point's rule names a target (``specificity=0.9``, chosen on the
    run's validation split) that lies outside this evaluation's 95% interval of that rate (a multi-label run: the
    labels whose interval leaves it out), saying on which side: above the target (the threshold trades the other
    rate for it) or below it; '' where it lies inside, the rule names none (``youden``) or the interval is
    undefined. ``where`` begins it: ``eval --data`` prints it of a site, the report shows it above the site's table,
    and of the run's own test split under the operating point's (a sensitivity of 1.000 [0.923, 1.000] for a
    target of 0.9 had been said as "the target lies outside this 95% interval" at a site, as if missed, and not
    at all of the test split in the same state)."""
    from medtrain.operating_point import parse_operating_point

    if not isinstance(op, dict) or not op.get("rule"):
        return ""
    try:
        kind, target = parse_operating_point(op["rule"])
    except MedtrainError:  # a rule this medtrain does not know: nothing to compare
        return ""
    if target is None:
        return ""
    if isinstance(op.get("per_label"), dict):
        sides = {n: _side(target, r, kind) for n, r in op["per_label"].items()}
        missed = [f"'{n}' {_rate(r, kind)} ({sides[n]} it)" for n, r in op["per_label"].items() if sides[n]]
        if not missed:
            return ""
        return (f"{where} the run's thresholds, chosen on its validation split for {kind} {target:g}, give a 95% "
                f"interval of {kind} that leaves the target out for {len(missed)} label"
                f"{'s' if len(missed) > 1 else ''}: {'; '.join(missed)}.")
    side = _side(target, op, kind)
    if not side:
        return ""
    why = (f"above the target, whose value lies below this 95% interval: the threshold calls more "
           f"{'positives' if kind == 'sensitivity' else 'negatives'} than it was chosen to, paid in {_TRADED[kind]}"
           if side == "above" and kind in _TRADED else
           f"{side} the target, whose value lies {'above' if side == 'below' else 'below'} this 95% interval")
    return (f"{where} the run's threshold, chosen on its validation split for {kind} {target:g}, gives {kind} "
            f"{_rate(op, kind)}: {why}.")


def external_blocks(run_dir: Path) -> list[dict]:
    """What the report shows of each ``eval_external_<name>.json`` in ``run_dir``, in the order of their names:
    ``{"name", "file", "res"`` (the JSON's content), ``"target_missed"`` (:func:`target_missed`), ``"images"``
    (``{key: path}`` of its figures; missing files are left out by the page), ``"auc_undefined"`` (why its AUC is
    undefined, or None: :func:`medtrain.reports.summary.auc_undefined_text`); a file that cannot be read,
    ``{"name", "file", "error"}`` (the page names it, and the rest are shown)."""
    out = []
    for path in sorted(Path(run_dir).glob(f"{EXTERNAL_PREFIX}*.json")):
        name = path.stem[len(EXTERNAL_PREFIX):]
        try:
            res = read_metrics(run_dir, path.name)
        except MedtrainError as e:
            out.append({"name": name, "file": path.name, "error": str(e)})
            continue
        out.append({"name": name, "file": path.name, "res": res, "target_missed": target_missed(
            res.get("operating_point")), "images": {k: Path(run_dir) / f for k, f in external_plot_files(name).items()},
            # why its AUC is "–" (a label never positive there...), as eval's line says: the table had shown it bare
            "auc_undefined": auc_undefined_text(res, "this site's data")})
    return out
