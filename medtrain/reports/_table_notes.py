"""The notes under a comparison's tables about its runs (Markdown, the page): cells not paired with the first, and
runs that call every test image one class. Moved out of :mod:`medtrain.reports.tables`, which re-exports them."""
from __future__ import annotations

from collections.abc import Mapping

from medtrain.metrics import ONE_CLASS
from medtrain.reports.baselines import ci_text


def cell_label(values: Mapping, keys: list[str]) -> str:
    """A comparison cell's name in its tables, notes and page: ``lr=0.01, head=linear`` (``values``: a cell's
    settings or its table row), ``base`` for the one cell of a grid without ``--vary``."""
    return ", ".join(f"{k}={values[k]}" for k in keys) or "base"


def unpaired_note(names: list[str]) -> str:
    """The sentence under a comparison some of whose cells have no pairs with the first (``names``), or ''."""
    if not names:
        return ""
    return (f"Not paired with the first cell: {', '.join(names)}. Their runs share no seed and split with its runs "
            "(other cross-validation folds, or none), so they have no Δ; compare their mean ± std only.")


def one_class_runs(runs: list[dict]) -> int:
    """How many of ``runs`` (metrics.json dicts) call every test image one class, as each run recorded it: its
    test ACC's interval reason :data:`medtrain.metrics.ONE_CLASS`, which :func:`medtrain.metrics.acc_auc_ci`
    gives by :func:`medtrain.metrics.calls_one_class` where the labels hold two classes or more (a run of
    ``--bootstrap 0`` records no interval, and is not counted)."""
    return sum(map(one_class_run, runs))


def one_class_run(run: dict) -> bool:
    """Whether ``run`` (a metrics.json dict) calls every test image one class (:func:`one_class_runs`)."""
    return (run.get("test") or {}).get("acc_ci_reason") == ONE_CLASS


def one_class_note(cells: list[tuple[str, int, int]]) -> str:
    """The sentence under a comparison some of whose cells hold runs that call every test image one class:
    ``cells``, ``(name, such runs, runs)`` of each cell (those with none are left out); '' where there is none.
    A walkthrough's BreastMNIST grid read "removing batch norm improves test AUC, p = 0.036" where every run
    without it answered the majority class (ACC 0.731 = 114/156); its words are ``eval --vs``'s caveat's
    (:func:`medtrain.versus.caveats`)."""
    named = [f"{name} ({k} of {n} run{'s' if n != 1 else ''})" for name, k, n in cells if k]
    if not named:
        return ""
    return (f"Runs that call every test image one class: {'; '.join(named)}. Such a run's test ACC is that class's "
            "share of the images, what always answering it scores, so its cell's test ACC, and a Δ test ACC and its "
            "p-value with that cell on either side, measure that constant answer, not a better classifier; its AUC, "
            "which ranks the scores, stays comparable, though the network's decisions name one class for every image.")


def _one_class_cells(rows: list[dict], keys: list[str]) -> list[tuple[str, int, int]]:
    return [(cell_label(r, keys), r.get("one_class_runs", 0), r["runs"]) for r in rows]


def pooled_oof_note(cells: list[dict], keys: list[str]) -> str:
    """The sentence under a comparison with cross-validated cells: each such cell's pooled out-of-fold test AUC, its
    seeds' K held-out folds pooled into one set of predictions (``cv.json``'s ``oof``, the headline of ``medtrain
    train --folds``), which the tables' mean over fold runs had left out (an evidence walk), and, for a cell after
    the first, its difference from the first cell's on the same images, paired (``vs_first``:
    :func:`medtrain._crossval_pairs.pooled_versus`); '' where no cell is cross-validated. ``cells``: compare's
    ``{"cell", "runs", "pooled_oof": [{"seed", "folds", "auc", "auc_ci", "vs_first"?}]}``."""
    def auc(v) -> str:
        return "–" if v is None else f"{v:.3f}"

    shown = []
    for c in cells:
        pooled = c.get("pooled_oof") or []
        if not pooled:
            continue
        name = cell_label(c["cell"], keys)
        if len(pooled) == 1:
            p = pooled[0]
            text = f"{name}: {auc(p['auc'])}{ci_text(p.get('auc_ci'))} (seed {p['seed']}, {p['folds']} folds)"
        else:
            values = [p["auc"] for p in pooled if p.get("auc") is not None]
            mean = f"{sum(values) / len(values):.3f}" if values else "–"
            text = f"{name}: mean {mean} over {len(pooled)} seeds ({', '.join(auc(p['auc']) for p in pooled)})"
        paired = [_versus_text(p, len(pooled) > 1) for p in pooled if "vs_first" in p]
        if paired:
            text += f", against {cell_label(cells[0]['cell'], keys)} " + "; ".join(paired)
        shown.append(text)
    if not shown:
        return ""
    held = {p.get("held_out", "test") for c in cells for p in c.get("pooled_oof") or []}
    what = {frozenset({"test"}): "test", frozenset({"val"}): "validation"}.get(frozenset(held), "held-out")
    # validation folds chose each fold's checkpoint and choices (data with an official test split): said, not hidden
    caveat = (" (validation folds, on which each fold's checkpoint and choices were made: optimistic, in every "
              "cell alike)") if "val" in held else ""
    return (f"Pooled out-of-fold {what} AUC of the cross-validated cells{caveat} (each seed's held-out folds pooled "
            "into one set "
            "of predictions, as medtrain train --folds reports it; the tables give the mean over fold runs; a cell "
            "after the first is paired with it image by image, its seeds dealing the same folds): "
            + "; ".join(shown) + ".")


def _versus_text(p: dict, seeds: bool) -> str:
    """One seed's paired difference of pooled AUCs, ``+0.012 [-0.004, +0.028], DeLong p = 0.14``."""
    v = p["vs_first"]
    where = f"seed {p['seed']}: " if seeds else ""
    if "unpaired" in v:
        return f"{where}not paired ({v['unpaired']})"
    a = v["auc"]
    lo, hi = a.get("difference_ci") or (None, None)
    ci = f" [{lo:+.3f}, {hi:+.3f}]" if lo is not None and lo == lo else ""
    p_text = f", {a['test']} p = {a['p']:.2g}" if a.get("p") is not None else ""
    return f"{where}{a['difference']:+.3f}{ci}{p_text}"


def operating_point_note(cells: list[dict], keys: list[str]) -> str:
    """The sentence under a comparison whose runs have an operating point (``--operating-point``): each cell's test
    sensitivity and specificity at its runs' own thresholds (a multi-label run's: the means over its labels), mean
    over the runs with each run's value; '' where no run has one. The tables give ACC at 0.5 / arg-max (MedMNIST's),
    and the rates a grid was run for had been in no table, only in each run's own report (a reader's walk)."""
    def rates(run: dict):
        test = (run.get("operating_point") or {}).get("test") or {}
        test = test.get("summary", test)  # multi-label: the means over the labels
        s, p = test.get("sensitivity", test.get("mean_sensitivity")), test.get("specificity",
                                                                               test.get("mean_specificity"))
        return None if s is None and p is None else (s, p)

    def mean(values) -> str:
        v = [x for x in values if x is not None and x == x]
        if not v:
            return "–"
        each = f" ({', '.join(f'{x:.3f}' for x in v)})" if len(v) > 1 else ""
        return f"{sum(v) / len(v):.3f}{each}"

    labels = any("summary" in ((r.get("operating_point") or {}).get("test") or {}) for c in cells for r in c["runs"])
    shown, rules = [], []
    for c in cells:
        found = [(r, x) for r in c["runs"] if (x := rates(r)) is not None]
        if not found:
            continue
        rules += [_rule_of(r["operating_point"]) for r, _ in found]
        shown.append(f"{cell_label(c['cell'], keys)}: sensitivity {mean(x[0] for _, x in found)}, specificity "
                     f"{mean(x[1] for _, x in found)}")
    if not shown:
        return ""
    named = ", ".join(dict.fromkeys(str(r) for r in rules if r))
    return (f"At each run's operating point ({named}: its threshold chosen on its own validation split), test "
            "sensitivity and specificity" + (" (a multi-label run's: the means over its labels, each at its own "
                                             "threshold)" if labels else "")
            + ", mean over the cell's runs (each run's in parentheses where it has several; the tables' ACC is at "
            "0.5 / arg-max, as MedMNIST's): " + "; ".join(shown) + ".")


def _rule_of(op: dict) -> str:
    """An operating point's rule and, where it names one, its positive class: ``specificity=0.8, positive class
    'malignant'`` (a grid varying ``positive_class`` had read as one rule)."""
    positive = op.get("positive_class")
    return f"{op.get('rule')}" + (f", positive class {positive!r}" if positive is not None else "")
