"""Self-contained HTML reports: one per run, per comparison, per cross-validation and per search (``medtrain tune``).

Pages are rendered from the Jinja2 templates in ``templates/`` (shipped as package data) from plain data
(dicts as ``metrics.json`` and ``config.yaml`` hold them), so layers above (``rundir``, ``compare``,
cross-validation) hand over what they already have. Plots stay PNGs, written as 256-colour palette PNGs
(:mod:`medtrain.reports.png`) and embedded as they are, as base64 ``data:`` URIs, so a report is one file that
opens offline with nothing to fetch, and stays small. The pages have no scripts.
"""
from __future__ import annotations

import base64
import html
import io
import math
import numbers
import os
import statistics
from pathlib import Path

import jinja2
from markupsafe import Markup
from PIL import Image

from medtrain import intervals
from medtrain._io import write_text
from medtrain.data import ORIGIN_KEY, OWN, origin_parts
from medtrain.reports.tables import (FOLDS_NOTE, UNPAIRED, caption, delta_heads, delta_parts, has_intervals,
                                     one_class_note, one_class_run, one_class_runs, paired_differences, undefined_note,
                                     p_note, unpaired_note, MEANS)
from medtrain.reports import png
from medtrain.reports._html_settings import fractions_note, fractions_read, settings_shown
from medtrain.reports._table_notes import cell_label
from medtrain.reports.baselines import MEDMNIST_V2, size_note
from medtrain.reports.summary import (DELONG_WHY, NEWCOMBE_WHY, auc_undefined_mark, auc_undefined_text,
                                      rests_on_text, same_probe, same_probe_note)

REPORT_FILE = "report.html"
SEEDS_FILE = "seeds.png"  #: a comparison's per-seed dots
FOLDS_FILE = "folds.png"  #: a cross-validation's per-fold dots
#: the legend entry of seeds.png's mark of a run that calls every test image one class (the table's note names them)
ONE_CLASS_MARK = "calls every test image one class"
#: said above a settings table that leaves out a linear probe's unread settings (a run's, a cross-validation's)
PROBE_UNREAD_NOTE = ("Not shown: the settings a linear probe never reads (a training loop's epochs, optimiser, schedule "
                     "and batches, augmentation, dropout, the network's head, class weights): its classifier is fitted "
                     "on the frozen network's codes.")
#: the comparison table's metrics: (label, key in a run's metrics.json as a getter)
COMPARE_METRICS = {"test AUC": lambda r: r["test"].get("auc"), "test ACC": lambda r: r["test"].get("acc"),
                   "val AUC": lambda r: r["val"].get("auc")}


def _num(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    return f"{v:.{digits}f}"


def _ci(pair, digits: int = 3) -> str:
    # metrics.json writes an undefined interval as null or [null, null]; one still in memory is nan or [nan, nan]
    if not isinstance(pair, (list, tuple)) or len(pair) != 2 or any(
            not isinstance(v, numbers.Real) or not math.isfinite(v) for v in pair):
        return ""
    return f"[{pair[0]:.{digits}f}, {pair[1]:.{digits}f}]"


_ENV = jinja2.Environment(loader=jinja2.PackageLoader("medtrain.reports", "templates"),
                          autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                          undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _text(v) -> Markup:
    """Plain text as an element's content: ``<``, ``>`` and ``&`` escaped; quotes, harmless there, kept as typed."""
    return Markup(html.escape(str(v), quote=False))


_ENV.filters.update(num=_num, ci=_ci, text=_text)


def png_data_uri(path: str | os.PathLike) -> str | None:
    """The PNG at ``path`` as a ``data:`` URI: a palette PNG (the plots medtrain writes: :mod:`medtrain.reports.png`)
    as the file holds it, another (a plot written before medtrain wrote them so) re-encoded as one, about 3x
    smaller; None if there is no such file."""
    path = Path(path)
    if not path.is_file():
        return None
    data = path.read_bytes()
    if not png.is_palette_png(data):
        with Image.open(io.BytesIO(data)) as im:
            data = png.palette_png(im)
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


#: the Data table's classes become its rows beyond this many, or when their names run long: one column per
#: class would push the table past the page's width
DATA_CLASS_COLUMNS = 6
DATA_HEADER_CHARS = 90


def classes_as_rows(classes) -> bool:
    """Whether the Data table lists classes as rows (splits as columns) rather than one column per class."""
    return len(classes) > DATA_CLASS_COLUMNS or sum(max(len(str(c)), 11) for c in classes) > DATA_HEADER_CHARS


def without_interval(per_class: dict) -> list[str]:
    """Classes with a defined value whose interval was asked for (a ``*_ci`` key) but is undefined."""
    return [name for name, c in per_class.items() if any(k.endswith("_ci") and not _ci(v) and _defined(c, k[:-3])
                                                         for k, v in c.items())]


def _defined(c: dict, key: str) -> bool:
    # the page shows a never-predicted class's precision as "–", with no interval to miss: metrics.json holds
    # null there (medtrain.metrics.per_class); a file written before that holds 0.0 with "predicted" 0
    return _num(c.get(key)) != "–" and not (key == "precision" and c.get("predicted") == 0)


def has_brackets(test: dict) -> bool:
    """Whether the page shows a test interval (a defined one, or the ``[–]`` of one asked for but undefined):
    the sentence on what the brackets are is written only then (a run with ``--bootstrap 0``, or a search's
    trial scored on no test images, has none)."""
    per_class = test.get("per_class") or {}
    return (any(k.endswith("_ci") and _ci(v) for k, v in test.items())
            or any(k.endswith("_ci") and _ci(v) for c in per_class.values() for k, v in c.items())
            or bool(without_interval(per_class)))


def no_test(config: dict, metrics: dict) -> dict | None:
    """Why a run has no test results (None when it has them): its test split was held back (a search's trial
    is trained and scored without it, ``evaluate_test=False``), or drawn empty (``test_fraction: 0``).

    Empty only where ``test_fraction`` draws the split, which the run's data decide: a MedMNIST set (a
    ``dataset``, no ``data``) and an ``.npz`` ``data`` bring their own test split, which ``test_fraction`` leaves
    alone (a trial of one had been called "empty (test_fraction 0: no test images)" with 92 test images in
    the file); a folder or CSV of images, and images given in memory without a test split, are split by it
    (:func:`fractions_read`). Where the run records that its test split is the data's own (``split_origin``), and
    the data summary that it holds no image, it is empty as the data give it (a CSV whose split column names no test
    row), not held back."""
    if metrics.get("test"):
        return None
    if config.get("test_fraction") == 0 and "test_fraction" in fractions_read(config, metrics):
        return {"word": "empty", "note": "test_fraction 0: no test images"}
    data = metrics.get("data") or {}
    if (origin_parts(data.get(ORIGIN_KEY)) or {}).get("test") == OWN and not any(
            s.get("n") for s in data.get("splits") or [] if s.get("name") == "test"):
        return {"word": "empty", "note": "the data give no test images"}
    return {"word": "held back", "note": "not scored by this run"}


def baselines(dataset: str | None) -> list[tuple[str, float, float]]:
    """The published MedMNIST v2 rows (name, test AUC, test ACC) for ``dataset``; empty if none stored."""
    return [(name, a, b) for name, (a, b) in MEDMNIST_V2.get(dataset or "", {}).items()]


def source_trained(transfer: dict | None) -> str:
    """What a run's transfer block records of its source run (its data, seed, the medtrain that trained it), as the
    report's Transfer section says it; '' where it records none (a hub source, a weights file)."""
    tr = transfer or {}
    parts = [tr.get("source_dataset") or tr.get("source_data")]
    if tr.get("source_dataset") and tr.get("source_data") and tr["source_data"] != tr["source_dataset"]:
        parts.append(f"data {tr['source_data']}")
    if tr.get("source_seed") is not None:
        parts.append(f"seed {tr['source_seed']}")
    if tr.get("source_medtrain"):
        commit = f" (commit {tr['source_commit'][:12]})" if tr.get("source_commit") else ""
        parts.append(f"medtrain {tr['source_medtrain']}{commit}")
    return " · ".join(str(x) for x in parts if x)


def run_report(config: dict, metrics: dict, images: dict[str, str | os.PathLike], data: dict | None = None,
               note: str = "", unread=(), external=(), test_missed: str = "") -> str:
    """The HTML of one run. ``config``: the run's settings (``config.yaml``'s, shown as applied:
    :func:`settings_shown`); ``metrics``: the content of ``metrics.json``;
    ``images``: ``{"learning_curve" | "roc_pr" | "reliability" | "confusion": path}`` (missing files are
    left out); ``data``: :func:`medtrain.rundir.data_summary`'s split sizes, class balance and groups; ``note``:
    plain text shown (escaped) as a warning above the results, e.g. a search's word on a former best trial;
    ``unread``: settings the run never read, left out of its settings table (:func:`settings_shown`);
    ``external``: its "External testing" section, one block per external site
    (:func:`medtrain._external_report.external_blocks`; each block's ``images`` embedded as the run's own);
    ``test_missed``: the sentence said under the operating point's table where its test interval leaves the rule's
    target out (:func:`medtrain._external_report.target_missed`)."""
    title = f"{metrics.get('dataset', '')} · {metrics.get('model', '')} · seed {metrics.get('seed', '')}"
    return _ENV.get_template("run.html.j2").render(
        title=title, config=settings_shown(config, metrics, unread), m=metrics, resamples=config.get("bootstrap"),
        fractions_note=fractions_note(config, metrics),
        probe_unread=PROBE_UNREAD_NOTE if metrics.get("probe") and any(k in config for k in unread) else "",
        test=metrics.get("test") or {}, data=data,
        classes_as_rows=bool(data) and classes_as_rows(data.get("classes") or []),
        without_interval=without_interval((metrics.get("test") or {}).get("per_class") or {}),
        images={k: png_data_uri(p) for k, p in images.items()}, baselines=baselines(metrics.get("dataset")),
        size_note=size_note((metrics.get("data") or {}).get("shape")),
        newcombe_why=NEWCOMBE_WHY, delong_why=DELONG_WHY, no_test=no_test(config, metrics),
        brackets=has_brackets(metrics.get("test") or {}), note=note,
        auc_undefined=auc_undefined_text(metrics.get("test") or {}, "the test split", 3),
        rests_on=rests_on_text(metrics.get("test") or {}, metrics.get("task", "")),
        few_for_auc=intervals.FEW_FOR_AUC, source_trained=source_trained(metrics.get("transfer")),
        external=[{**e, "images": {k: png_data_uri(p) for k, p in (e.get("images") or {}).items()}}
                  for e in external], test_missed=test_missed)


def _mean_std(values) -> tuple[float, float, int]:
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    if not v:
        return float("nan"), float("nan"), 0
    return statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v)


def _nan_low(v: float) -> float:
    return v if math.isfinite(v) else -math.inf


def write_comparison_report(out: str | os.PathLike, keys: list[str], cells: list[dict], header: str = "") -> Path:
    """``report.html`` (and ``seeds.png``) of runs grouped into cells: ``cells`` as
    :func:`medtrain.reports.tables.summarise` takes them (``{"cell": {key: value}, "runs": [metrics.json]}``).
    The table is mean ± std over each cell's seeds; the figure shows every seed's value as a dot."""
    from medtrain.reports import plots

    out = Path(out)
    names = [cell_label(c["cell"], keys) for c in cells]
    values = {label: [[get(r) for r in c["runs"]] for c in cells] for label, get in COMPARE_METRICS.items()}
    rows = []
    for i, (name, c) in enumerate(zip(names, cells)):
        stats = {label: _mean_std(values[label][i]) for label in values}
        rows.append({"name": name, "seeds": [f"{r.get('seed')}" + (f" fold {r['cv']['fold']}" if r.get("cv") else "")
                                             for r in c["runs"]], "stats": stats,
                     "per_seed": {label: values[label][i] for label in values}})
    paired = paired_differences(cells)
    for row, d in zip(rows, paired):  # each cell against the first, paired by seed
        row["deltas"] = delta_parts(d)
    top = max((_nan_low(r["stats"]["val AUC"][0]) for r in rows), default=None)
    # every cell at the highest mean validation AUC is highlighted, a shared one said to be a tie (a walkthrough's
    # two cells at 0.5198 had the first alone highlighted as "the highest")
    best = [i for i, r in enumerate(rows) if top is not None and math.isfinite(top) and r["stats"]["val AUC"][0] == top]
    fold_cells = [any(r.get("cv") for r in c["runs"]) for c in cells]
    nb = any(d and d["ci_method"] == "nadeau-bengio" for d in paired)
    notes = [FOLDS_NOTE] if nb else []
    notes.append(unpaired_note([name for name, d in zip(names, paired) if d and d["ci_method"] == UNPAIRED]))
    notes.append(same_probe_note([name for name, c in zip(names, cells) if same_probe(c["runs"])]))
    title = f"Comparison over {', '.join(keys) or 'seeds'}"
    # the runs the note under the table names (one_class_note) are marked in the figure too
    plots.seed_dots([", ".join(str(c["cell"][k]) for k in keys) or "base" for c in cells], values, out / SEEDS_FILE,
                    title=f"{title}: each run's value", unit="fold run" if all(fold_cells) else "run" if any(
                        fold_cells) else "seed", xlabel=", ".join(keys),
                    flagged=[[one_class_run(r) for r in c["runs"]] for c in cells], flag_label=ONE_CLASS_MARK,
                    undefined={"test AUC": [auc_undefined_mark(c["runs"]) for c in cells]})
    html = _ENV.get_template("compare.html.j2").render(
        title=title, header=header, rows=rows, metrics=list(values),
        best=best, tied=len(best) > 1, dots=png_data_uri(out / SEEDS_FILE), folds=any(fold_cells),
        paired=len(rows) > 1, delta_heads=delta_heads(short=True), p_note=p_note(nb), fold_pairs=nb,
        intervals=has_intervals([{"paired": d} for d in paired]),
        any_pair=any((d or {}).get("pairs") for d in paired[1:]),  # else every cell is unpaired: no "one pair each"
        all_folds=all(fold_cells), caption=caption([{"fold_runs": f, "paired": d} for f, d in zip(fold_cells, paired)]),
        folds_note=" ".join(n for n in notes if n),
        one_class_note=one_class_note([(name, one_class_runs(c["runs"]), len(c["runs"]))
                                       for name, c in zip(names, cells)]),
        # summary.md's and summary.tex's note, in its one wording, from the same means the table shows
        undefined_note=undefined_note([{**c["cell"], **{n: row["stats"][label][0] for n, label in MEANS}}
                                       for c, row in zip(cells, rows)], keys))
    write_text(out / REPORT_FILE, html)
    return out / REPORT_FILE


def write_crossval_report(out: str | os.PathLike, summary: dict) -> Path:
    """``report.html`` (and ``folds.png``) of a cross-validation. ``summary``: ``{"folds": [{"fold": i,
    metric: value, ...}], "pooled": {"auc": v, "auc_ci": [lo, hi], ...}}`` plus optional ``"mean"``/``"std"``
    (computed from the folds when absent), ``"title"``, ``"config"``, ``"split_origin"`` (the folds' data
    summary's, which decides the fractions its settings table lists) and ``"unread"`` (settings the folds never read,
    a linear probe's, left out of that table as a run's report leaves them out), ``"threshold_note"`` and
    ``"label_tables"`` (``[{"title", "head", "rows"}]``, text), ``"choices"`` (the folds' choices: such a table, or
    ``{"title", "line"}``) and ``"choices_note"`` (the settings table's word on them), ``"fold_table"`` (cv.md's
    per-fold table, ``{"head", "rows", "mean"}`` as text: :func:`medtrain._crossval_labels.fold_table`; shown as it
    is, in place of a table of the folds' raw keys), ``"labels"`` (``{key: name}``: each column's name in
    ``folds.png``, the table's header; a key without one is shown as it is). Every numeric fold column but ``fold`` and ``seed``
    is a metric (a ``"mean"`` of None: "–"); a pooled ``*_ci_draws`` (resamples an interval rests on) is not."""
    from medtrain.reports import plots

    out = Path(out)
    folds = summary["folds"]
    metrics = [k for k in folds[0] if k not in ("fold", "seed")
               and all(isinstance(f.get(k), (int, float)) and not isinstance(f.get(k), bool) for f in folds)]
    mean, std = dict(summary.get("mean") or {}), dict(summary.get("std") or {})
    for k in metrics:
        m, s, _ = _mean_std(f[k] for f in folds)
        mean.setdefault(k, m)
        std.setdefault(k, s)
    # a column the tables give no mean ± std (a "mean" of None: the folds' calibrated thresholds and temperatures,
    # not on one scale) is drawn as its dots alone: the figure had averaged what the tables refuse to
    names = summary.get("labels") or {}
    plots.seed_dots([names.get(k, k) for k in metrics], {"": [[f[k] for f in folds] for k in metrics]},
                    out / FOLDS_FILE, unit="fold",
                    averaged=[mean[k] is not None for k in metrics])
    pooled = summary.get("pooled") or {}
    html = _ENV.get_template("crossval.html.j2").render(
        title=summary.get("title") or f"{len(folds)}-fold cross-validation", folds=folds, metrics=metrics,
        mean=mean, std=std, pooled={k: v for k, v in pooled.items() if not k.endswith(("_ci", "_ci_draws"))},
        pooled_ci={k[:-3]: v for k, v in pooled.items() if k.endswith("_ci")},
        pooled_names={k: pooled_name(k) for k in pooled},
        config=settings_shown(summary.get("config") or {}, _data_of(summary), summary.get("unread") or ()),
        probe_unread=PROBE_UNREAD_NOTE if any(k in (summary.get("config") or {}) for k in summary.get("unread") or ())
        else "",
        pooled_note=summary.get("pooled_note") or "brackets are 95% bootstrap intervals", dots=png_data_uri(
            out / FOLDS_FILE), threshold_note=summary.get("threshold_note") or "", label_tables=summary.get(
            "label_tables") or [], choices=summary.get("choices"), choices_note=summary.get("choices_note") or "",
        fold_table=summary.get("fold_table"))
    write_text(out / REPORT_FILE, html)
    return out / REPORT_FILE


#: the pooled cards' metric names (cv.json's ``oof`` keys); another key is shown with its underscores as spaces
POOLED_NAMES = {"auc": "AUC", "acc": "ACC", "macro_auc": "macro AUC", "micro_auc": "micro AUC", "ece": "ECE"}


def pooled_name(key: str) -> str:
    """A cross-validation report's card label of a pooled key (``oof_auc`` -> "pooled out-of-fold AUC"): the cards
    had shown the raw keys ("pooled oof_auc")."""
    k = key[4:] if key.startswith("oof_") else key
    return "pooled out-of-fold " + POOLED_NAMES.get(k, k.replace("_", " "))


def _data_of(summary: dict) -> dict:
    """The folds' recorded split origin and image shape as :func:`settings_shown` reads a run's (an origin not
    recorded: guessed from the path; a 2D shape: no ``volume_size``, which a cross-validation's table had shown)."""
    data = {k: summary[k] for k in ("split_origin", "shape") if summary.get(k)}
    return {"data": data} if data else {}


def write_tune_report(out: str | os.PathLike, page: dict, images: dict[str, str | os.PathLike]) -> Path:
    """``report.html`` of a hyperparameter search (``medtrain tune``) in ``out``. ``page``: plain data (the keys
    ``tune.html.j2`` reads: ``title``, ``study`` (name, storage, counts, stop rule), ``header`` and ``rows`` of the
    trials table (cells as text), ``best_row`` (its index), ``skipped`` (plots not drawn, and why), ``best``
    (``best.json``'s record), ``test_note``, ``best_config`` and ``config_path``); ``images``: ``{"history" |
    "importance": path}`` of the PNGs beside it, embedded (missing files are left out)."""
    out = Path(out)
    html = _ENV.get_template("tune.html.j2").render(**page, images={k: png_data_uri(p) for k, p in images.items()})
    write_text(out / REPORT_FILE, html)
    return out / REPORT_FILE
