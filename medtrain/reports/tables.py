"""Comparison tables: mean ± std over each cell's runs (its seeds; a cross-validated cell's fold runs), and each
cell's difference from the first, paired by seed, with its interval and (test metrics) its p-value, as Markdown,
CSV and a LaTeX (booktabs) table to paste into a paper."""
from __future__ import annotations

import csv
import io
import math
import statistics

from medtrain.reports._table_notes import (_one_class_cells, cell_label, one_class_note, one_class_run,  # noqa: F401
                                           one_class_runs, unpaired_note)  # (the notes under the tables)
from medtrain.reports.summary import same_probe, same_probe_note
from medtrain.significance import paired_t


def _mean_std(values: list[float]) -> tuple[float, float]:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return float("nan"), float("nan")
    return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0


def _epoch(run: dict, key: str) -> int | None:
    """A run's kept or stop epoch (1-based); None for a linear probe, which trains no epochs (its cell had shown
    "kept epoch 1, stop epoch 1": a walk)."""
    return None if run.get("probe") else run[key] + 1


def summarise(cells: list[dict]) -> list[dict]:
    """``cells``: ``{"cell": {key: value}, "runs": [metrics.json dicts]}`` -> one row per cell."""
    rows = []
    for c in cells:
        runs = c["runs"]
        row = dict(c["cell"])
        # a cross-validated cell's runs are its fold runs: counted as folds, not as seeds (a statistician's
        # audit found "seeds 3" for one seed of 3 folds, its std a between-fold spread)
        folds = {r["cv"]["fold"] for r in runs if r.get("cv")}
        row["seeds"], row["runs"] = len({r.get("seed") for r in runs}), len(runs)
        if folds:
            row["fold_runs"] = len(folds)  # not "folds": a grid may vary folds itself (its cell key)
        row["one_class_runs"], row["same_probe"] = one_class_runs(runs), same_probe(runs)
        for name, get in (("test_acc", lambda r: r["test"]["acc"]), ("test_auc", lambda r: r["test"]["auc"]),
                          ("val_auc", lambda r: r["val"]["auc"]), ("best_epoch", lambda r: _epoch(r, "best_epoch")),
                          ("stop_epoch", lambda r: _epoch(r, "stop_epoch")), ("wall_s", lambda r: r["wall_s"])):
            m, s = _mean_std([get(r) for r in runs])
            row[name], row[name + "_std"] = m, s
        rows.append(row)
    for row, d in zip(rows, paired_differences(cells)):
        row["paired"] = d
    return rows


#: the metrics whose difference from the first cell is given with a paired interval
PAIRED = {"val_auc": lambda r: r["val"]["auc"], "test_acc": lambda r: r["test"]["acc"],
          "test_auc": lambda r: r["test"]["auc"]}  # (``pairs``: the last's, test AUC's, as before ACC's was added)
#: those of :data:`PAIRED` whose difference is also tested (``d_<metric>_p``): the test split's. Validation chose
#: each run's kept epoch (``--monitor``) and its choices, so its difference is no held-out one to test.
TESTED = ("test_auc", "test_acc")


def _pair_key(run: dict) -> tuple:
    """What pairs two cells' runs: the seed, and a fold run's fold of K (fold 0 of 3 is not fold 0 of 5's split)."""
    cv = run.get("cv") or {}
    return run.get("seed"), cv.get("fold"), cv.get("folds")


def _held_out_share(run: dict) -> float | None:
    """n_held-out / n_train of a cross-validation fold run (the held-out split is ``cv.held_out``), else None."""
    cv, sizes = run.get("cv") or {}, run.get("sizes") or {}
    held, train = sizes.get(cv.get("held_out")), sizes.get("train")
    return held / train if cv and held and train else None


def paired_differences(cells: list[dict], level: float = 0.95) -> list[dict | None]:
    """Each cell's difference from the first cell (the reference), paired by seed (and fold): for every
    metric of :data:`PAIRED`, the mean per-seed difference and its Student-t interval over the pairs
    (``d_<metric>``, ``d_<metric>_ci``; the interval ``None`` with fewer than two pairs), and ``pairs``; for
    those of :data:`TESTED`, the two-sided p-value of the paired t-test that interval inverts (``d_<metric>_p``,
    :func:`medtrain.significance.paired_t`; None under two pairs or where every pair's difference is the same).
    The cells' runs share seeds, splits and initial weights, so the per-seed difference removes the seed-to-
    seed spread that each cell's own std carries (a walkthrough: +0.0042 on both seeds, hidden by std 0.026).
    The test images are the same in every pair: the interval and p speak of the runs' seed-to-seed variation on
    them. McNemar's test and the paired bootstrap (:mod:`medtrain.significance`) are of one pair of runs on
    the images (``medtrain eval RUN --vs OTHER``); pooled over seeds they would count each image once a seed.

    Pairs that are cross-validation folds are not independent: any two folds' runs share (K-2)/(K-1) of their
    training images, and the plain t interval over them is too narrow. Their variance is the corrected
    resampled one of Nadeau & Bengio ("Inference for the generalization error", Machine Learning 2003), in
    Bouckaert & Frank's form for r seeds x K folds (PAKDD 2004): ``(1/J + n_held/n_train) * s^2`` over the J
    pairs, with n_held/n_train the folds' mean (1/(K-1) for K equal folds); ``ci_method`` says which applied
    (``"t"`` or ``"nadeau-bengio"``). The correction applies where the pairs span two folds or more: seeds of
    one fold train on the same images in both cells, and their plain t interval is the seeds' own. SciPy has
    the t quantile; no library offers the correction itself.

    A cell none of whose runs shares a seed and split with the reference's (``--vary folds=0,3``: runs without
    folds against fold runs) is not paired: ``ci_method`` ``"unpaired"``, no difference (a mean of nothing
    had printed as +nan, under a header calling it paired). None for the reference itself."""
    ref = {_pair_key(r): r for r in cells[0]["runs"]} if cells else {}
    out: list[dict | None] = [None]
    for c in cells[1:]:
        row: dict = {"ci_method": "t"}
        pairs = [(r, ref[_pair_key(r)]) for r in c["runs"] if _pair_key(r) in ref]
        if not pairs:
            out.append({"ci_method": UNPAIRED, "pairs": 0, **{f"d_{n}{s}": None for n in PAIRED for s in ("", "_ci")},
                        **{f"d_{n}_p": None for n in TESTED}})
            continue
        row["pairs"] = len(pairs)  # the runs paired with the reference's (a metric undefined in a pair skips it)
        folds = {_pair_key(a)[1] for a, _ in pairs} - {None}
        shares = [s for a, b in pairs for s in (_held_out_share(a), _held_out_share(b)) if s is not None
                  ] if len(folds) > 1 else []
        for name, get in PAIRED.items():
            d = [_value(get, a) - _value(get, b) for a, b in pairs]
            d = [v for v in d if math.isfinite(v)]
            test = paired_t(d, statistics.fmean(shares) if shares else 0.0, level)
            if shares and test["difference_ci"] is not None:
                row["ci_method"] = "nadeau-bengio"
            row[f"d_{name}"], row[f"d_{name}_ci"] = test["difference"], test["difference_ci"]
            if name in TESTED:
                row[f"d_{name}_p"] = test["p"]
        out.append(row)
    return out


def _value(get, run: dict) -> float:
    """A run's metric (:data:`PAIRED`), NaN where it has none (an undefined AUC, recorded as None)."""
    v = get(run)
    return float("nan") if v is None else float(v)


#: ``ci_method`` of a cell whose runs share no seed and split with the reference's, and what its Δ cells say
UNPAIRED = "unpaired"
NOT_PAIRED = "not paired (different splits)"


def signed_difference(d: dict | None, name: str, tex: bool = False) -> str:
    """A row's Δ cell of metric ``name`` (``d``: its :func:`paired_differences` entry) in every table: the signed
    mean difference with its interval (``+0.027 [+0.020, +0.034]``), "reference" for the first cell, "not paired"
    for one without pairs, a dash where the metric is undefined in every pair. ``tex``: as LaTeX (numbers in
    ``$...$``, the dash ``--``)."""
    if d is None:
        return "reference"
    if d.get("ci_method") == UNPAIRED:
        return tex_escape(NOT_PAIRED) if tex else NOT_PAIRED
    mean, ci = d.get(f"d_{name}"), d.get(f"d_{name}_ci")
    if mean is None or not math.isfinite(mean):
        return "--" if tex else "–"  # pairs whose metric is undefined in every run
    number = (lambda v: _tex_number(v, True)) if tex else (lambda v: f"{v:+.3f}")
    return number(mean) + (f" [{number(ci[0])}, {number(ci[1])}]" if ci else "")


#: the Δ columns, in order: (metric of :data:`PAIRED`, its name); a tested one's p follows it (:func:`delta_columns`)
DELTAS = (("val_auc", "val AUC"), ("test_auc", "test AUC"), ("test_acc", "test ACC"))


def delta_columns(tex: bool = False) -> list[tuple[str, str]]:
    """The Δ columns as every table orders them, ``(metric, its name)``: :data:`DELTAS` (Markdown, CSV, the web
    page); ``tex``: the LaTeX table's, its tested metrics alone, in the order of its mean columns (test ACC, test
    AUC)."""
    if tex:
        return [(name, label) for name, label in DELTAS if name in TESTED][::-1]
    return list(DELTAS)


def _fold_pairs(rows: list[dict]) -> bool:
    """Whether some cell's Δ pairs cross-validation folds (its interval Nadeau & Bengio's)."""
    return any((r.get("paired") or {}).get("ci_method") == "nadeau-bengio" for r in rows)


def caption(rows: list[dict], tex: bool = False) -> str:
    """What the numbers are, one sentence for a caption (summary.tex's ``% Caption:``, summary.md, report.html): ±
    the SD over each cell's runs (seeds, or fold runs), the brackets the Δ's 95% interval by its method (Student's
    t; Nadeau & Bengio's over folds: a walkthrough's CV compare said "paired by seed, t interval"). ``tex``: LaTeX."""
    folds = [bool(r.get("fold_runs")) for r in rows]
    runs = ("cross-validation fold runs" if all(folds) else "runs (seeds; a cross-validated cell: its fold runs)"
            if any(folds) else "runs (one per seed)")
    text = f"Mean ± SD (standard deviation, not a standard error or interval) over each cell's {runs}." \
        if any(r.get("runs", 2) > 1 for r in rows) else "Each cell's one run (no SD over one run)."
    methods = {(r.get("paired") or {}).get("ci_method") for r in rows[1:]} - {None, UNPAIRED}
    if methods:
        by = {frozenset({"t"}): "seed", frozenset({"nadeau-bengio"}): "seed and fold"}.get(
            frozenset(methods), "seed (and fold, in cross-validated cells)")
        how = {"t": "Student's t over the pairs",
               "nadeau-bengio": "Nadeau & Bengio's corrected resampled t over the fold pairs"}
        intervals = has_intervals(rows)
        text += (f" Δ: each cell minus the first, paired by {by}, its mean difference with a 95% interval in "
                 "brackets (" + "; ".join(how[m] for m in sorted(methods, key=list(how).index))
                 + ") and the p of the paired test it inverts." if intervals else
                 f" Δ: each cell minus the first, paired by {by}: one pair each, so the difference alone (an "
                 "interval and a p need two pairs or more).")  # the columns' "95% CI" had promised brackets
    if not tex:
        return text
    return (tex_escape(text).replace("±", "$\\pm$").replace("Δ", "$\\Delta$").replace(" p ", " $p$ "))


def p_note(folds: bool = False) -> str:
    """:data:`P_NOTE`, naming what the pairs vary over: seeds, or (``folds``) seeds and cross-validation folds."""
    return _P_NOTE.format(test=" (over fold pairs, Nadeau & Bengio's corrected one)" if folds else "",
                          over="variation from fold to fold (and seed to seed)" if folds else "seed-to-seed variation")


#: :data:`P_NOTE` with the words :func:`p_note` fills: the test and what the pairs vary over
_P_NOTE = ("p: the two-sided paired t-test{test} of the pairs' differences that the Δ interval inverts (p < 0.05 where "
           "the interval leaves out 0), given for the test metrics; the test images are the same in every pair, so "
           "it speaks of the runs' {over}, not of another sample of test images. – where there is "
           "no test: under two pairs, or the same difference in every pair.")
#: said under a table with Δ columns: what the p-values are, and where there are none
P_NOTE = p_note()


def p_text(d: dict | None, name: str) -> str:
    """A Δ's p-value as the tables show it: ``0.058``, ``< 0.001``, or ``–`` where there is none."""
    p = (d or {}).get(f"d_{name}_p")
    return "–" if p is None else "< 0.001" if p < 0.001 else f"{p:.3g}"


def has_intervals(rows: list[dict]) -> bool:  # any cell's Δ with a 95% interval (two pairs or more)
    return any((r.get("paired") or {}).get(f"d_{name}_ci") for r in rows[1:] for name, _ in DELTAS)


def delta_heads(short: bool = False, intervals: bool = True) -> list[str]:
    """The Δ columns' heads, in :data:`DELTAS` order, a tested one's p after it; "95% CI" only where a Δ has one
    (:func:`has_intervals`). ``short``: the web page's, its note saying what a Δ is (long heads overflowed it)."""
    if short:  # the p in its Δ's cell (:func:`delta_parts`)
        return [f"Δ {label}" for _, label in delta_columns()]
    how = "paired, 95% CI" if intervals else "paired"
    return [h for name, label in delta_columns()
            for h in [f"Δ {label} vs first ({how})"] + ([f"p (Δ {label})"] if name in TESTED else [])]


def delta_cells(d: dict | None) -> list[str]:
    """One row's Δ cells under :func:`delta_heads` (the first cell's: "reference")."""
    cells = []
    for name, _ in delta_columns():
        cells.append(signed_difference(d, name))
        if name in TESTED:
            cells.append(p_text(d, name))
    return cells


def delta_parts(d: dict | None) -> list[tuple[str, str | None]]:
    """The web page's Δ cells under ``delta_heads(short=True)``: ``(Δ [its interval], p or None)``, the p shown
    under its Δ in the same cell."""
    out = []
    for name, _ in delta_columns():
        p = p_text(d, name) if name in TESTED else "–"
        out.append((signed_difference(d, name), None if p == "–" else p))
    return out


def to_markdown(rows: list[dict], keys: list[str]) -> str:
    paired = len(rows) > 1
    head = keys + ["seeds", "test ACC", "test AUC", "val AUC", "kept epoch", "stop epoch", "time/run (s)"]
    head += delta_heads(intervals=has_intervals(rows)) if paired else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r[k]) for k in keys] + [str(r["seeds"]) + (f" × {r['fold_runs']} folds" if r.get("fold_runs") else "")]
        one = r["runs"] < 2  # a std of one run is undefined, not 0: the mean alone
        cells += [_mean_text(r[n], r[n + "_std"], one) for n, _ in MEANS]
        cells += [_epochs(r[n], r[n + "_std"], one) for n in ("best_epoch", "stop_epoch")]
        cells += [f"{r['wall_s']:.0f}"]
        cells += delta_cells(r.get("paired")) if paired else []
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", caption(rows)]
    lines += ["", p_note(_fold_pairs(rows))] if paired else []
    if any((r.get("paired") or {}).get("ci_method") == "nadeau-bengio" for r in rows):
        lines += ["", FOLDS_NOTE]
    unpaired = [cell_label(r, keys) for r in rows
                if (r.get("paired") or {}).get("ci_method") == UNPAIRED]
    if unpaired:
        lines += ["", unpaired_note(unpaired)]
    one_class = one_class_note(_one_class_cells(rows, keys))
    if one_class:  # under the table: summary.md, the printed summary and (a comment) summary.tex
        lines += ["", one_class]
    undefined = undefined_note(rows, keys)
    if undefined:
        lines += ["", undefined]
    probes = same_probe_note([c[0] for c, r in zip(_one_class_cells(rows, keys), rows) if r.get("same_probe")])
    lines += ["", probes] if probes else []
    return "\n".join(lines) + "\n"


#: the mean ± std columns of :func:`to_markdown`, in order: (row key, name)
MEANS = (("test_acc", "test ACC"), ("test_auc", "test AUC"), ("val_auc", "val AUC"))


def _mean_text(mean: float, std: float, one: bool) -> str:
    """A cell's mean ± std (the mean alone for one run); "–" where the metric is undefined in every run (an AUC of
    splits lacking a class had read "nan ± nan"), as the web page and the Δ columns show an undefined value."""
    if not math.isfinite(mean):
        return "–"
    return f"{mean:.3f}" + ("" if one else f" ± {std:.3f}")


def undefined_note(rows: list[dict], keys: list[str]) -> str:
    """The sentence under a comparison some of whose cells have a metric undefined in every run (shown "–" in
    summary.md and report.html, "--" in summary.tex, empty in summary.csv): which, and why; '' where there is none."""
    named = []
    for r in rows:
        gone = [label for n, label in MEANS if not math.isfinite(r[n])]
        if gone:
            named.append(f"{', '.join(f'{k}={r[k]}' for k in keys) or 'base'} ({', '.join(gone)})")
    if not named:
        return ""
    return (f"Undefined in every run, shown as –: {'; '.join(named)}. An AUC needs images of every class in its "
            "split (multi-label: each label present in some image and absent from another); these runs' splits lack "
            "one (each run's report names it), so the cell has no mean of it and no Δ.")


def _epochs(mean: float, std: float, one: bool) -> str:
    """A cell's kept or stop epoch: the epoch itself where every run's is the same (one seed: "1", not "1.0"),
    else the mean with one decimal and its std."""
    if not math.isfinite(mean):  # no run of the cell trains epochs (linear probes)
        return "–"
    if math.isfinite(mean) and std == 0 and float(mean).is_integer():
        return f"{int(mean)}" + ("" if one else " ± 0")
    return f"{mean:.1f}" + ("" if one else f" ± {std:.1f}")


#: said under a comparison whose pairs are cross-validation folds
FOLDS_NOTE = ("The Δ intervals pair cross-validation folds, whose runs share most of their training images: "
              "they use Nadeau & Bengio's corrected variance, (1/pairs + held-out/train size) x s², "
              "not the plain t interval, which would be too narrow.")


def to_csv(rows: list[dict], keys: list[str]) -> str:
    cols = keys + ["seeds", "runs"] + [f"{n}{s}" for n in ("test_acc", "test_auc", "val_auc", "best_epoch", "stop_epoch",
                                                  "wall_s") for s in ("", "_std")]
    # (the columns of test ACC's Δ and the p-values after those a reader of an earlier table finds in place)
    cols += ["pairs", "ci_method"] + [f"d_{n}{s}" for n, _ in delta_columns() for s in ("", "_lo", "_hi")]
    cols += [f"d_{n}_p" for n, _ in delta_columns() if n in TESTED]
    cols += ["one_class_runs"]  # runs that call every test image one class (:func:`one_class_runs`)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:  # a std of one run is undefined: left empty, not 0; so is a metric undefined in every run
        row = {k: ("" if k.endswith("_std") and r["runs"] < 2 else _csv_number(v)) for k, v in r.items()}
        d = r.get("paired") or {}
        row["pairs"], row["ci_method"] = d.get("pairs", ""), d.get("ci_method", "")
        for n in PAIRED:
            ci = d.get(f"d_{n}_ci") or ["", ""]
            row[f"d_{n}"], row[f"d_{n}_lo"], row[f"d_{n}_hi"] = map(_csv_number, (d.get(f"d_{n}"), ci[0], ci[1]))
        for n in TESTED:
            row[f"d_{n}_p"] = "" if d.get(f"d_{n}_p") is None else d[f"d_{n}_p"]
        w.writerow(row)
    return buf.getvalue()


def _csv_number(v):
    """A value as summary.csv writes it: empty where it is undefined (None, NaN: a mean of no defined run had been
    written "nan"), as a std of one run and a missing Δ are."""
    return "" if v is None or isinstance(v, float) and math.isnan(v) else v


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex_escape(text) -> str:
    """``text`` as LaTeX text: its special characters (``\\ & % $ # _ { } ~ ^``) escaped."""
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def _tex_number(value: float, sign: bool = False) -> str:
    return "--" if value is None or not math.isfinite(value) else f"${value:{'+' if sign else ''}.3f}$"


def to_latex(rows: list[dict], keys: list[str], note: str = "") -> str:
    """The comparison as a LaTeX ``tabular`` with booktabs rules (``\\usepackage{booktabs}``), to paste into a
    paper: the varied settings, the seeds, test ACC and AUC (mean ± std over each cell's runs) and, against the
    first cell, each one's paired Δ with its 95% interval and p (:func:`paired_differences`). Validation AUC,
    epochs and times are in ``summary.md`` and ``summary.csv``. What the numbers are, ``note`` (the grid and its
    base settings) and the notes of :func:`to_markdown` are LaTeX comments above and below it; the cells' text
    is escaped (:func:`tex_escape`)."""
    paired = len(rows) > 1
    tested = delta_columns(tex=True)
    head = [tex_escape(k) for k in keys] + ["seeds", "test ACC", "test AUC"]
    for _, label in tested if paired else ():
        head += [rf"$\Delta$ {label}" + (r" (95\% CI)" if has_intervals(rows) else ""), "$p$"]
    lines = ["% medtrain compare: " + line for line in (note.strip().splitlines() or [""]) if line.strip()]
    lines += ["% Caption: " + caption(rows, tex=True),
              "% Needs \\usepackage{booktabs}.",
              r"\begin{tabular}{" + "l" * len(keys) + "r" + "c" * (len(head) - len(keys) - 1) + "}", r"\toprule",
              " & ".join(head) + r" \\", r"\midrule"]
    for r in rows:
        one = r["runs"] < 2
        cells = [tex_escape(r[k]) for k in keys] + [str(r["seeds"]) + (
            rf" $\times$ {r['fold_runs']} folds" if r.get("fold_runs") else "")]
        for n in ("test_acc", "test_auc"):
            m, sd = r[n], r[n + "_std"]
            cells.append("--" if not math.isfinite(m) else f"${m:.3f}$" if one else f"${m:.3f} \\pm {sd:.3f}$")
        for n, _ in tested if paired else ():
            d = r.get("paired")
            p = p_text(d, n)
            cells += [signed_difference(d, n, tex=True), "--" if p == "–" else f"${p.replace(' ', '')}$"]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    notes = [n for n in to_markdown(rows, keys).split("\n\n")[1:] if n.strip() and n.strip() != caption(rows)]
    lines += ["% " + n.strip().replace("\n", " ") for n in notes]
    return "\n".join(lines) + "\n"
