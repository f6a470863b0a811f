"""The notes under a comparison's tables about its runs (Markdown, the page): cells not paired with the first, and
runs that call every test image one class. Moved out of :mod:`medtrain.reports.tables`, which re-exports them."""
from __future__ import annotations

from medtrain.metrics import ONE_CLASS


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
    return [(", ".join(f"{k}={r[k]}" for k in keys) or "base", r.get("one_class_runs", 0), r["runs"]) for r in rows]
