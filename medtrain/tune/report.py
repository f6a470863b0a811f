"""What a finished search writes: the trials table, the best config as YAML, Optuna's optimisation-history
and parameter-importance plots."""
from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import optuna
import yaml

from medtrain._io import atomic_path, write_text

from medtrain.tune.study import FINISHED, fail_stale_trials

TRIALS_CSV, TRIALS_MD = "trials.csv", "trials.md"
HISTORY_PNG, IMPORTANCE_PNG = "history.png", "importance.png"
BEST_CONFIG = "best_config.yaml"


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def trial_rows(study: optuna.Study) -> tuple[list[str], list[list]]:
    """Header and one row per trial: number, state, value, seconds, epochs reported (``epochs_run``: a
    searched ``epochs`` is a parameter column of its own), each parameter."""
    trials = study.get_trials(deepcopy=False)
    names = list(dict.fromkeys(k for t in trials for k in t.params))
    header = ["trial", "state", "value", "seconds", "epochs_run", *names]
    rows = []
    for t in trials:
        secs = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start \
            else None
        rows.append([t.number, t.state.name.lower(), t.value, secs, len(t.intermediate_values),
                     *[t.params.get(k) for k in names]])
    return header, rows


def write_trials(study: optuna.Study, out: Path) -> str:
    """``trials.csv`` and ``trials.md`` in ``out``; returns the Markdown table (best trial in bold). A trial whose
    process died is marked failed first (:func:`medtrain.tune.study.fail_stale_trials`), not listed as running."""
    fail_stale_trials(study)
    header, rows = trial_rows(study)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    write_text(out / TRIALS_CSV, buf.getvalue())
    try:
        best = study.best_trial.number
    except ValueError:
        best = None
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [_cell(v) for v in r]
        if r[0] == best:
            cells = [f"**{c}**" if c else c for c in cells]
        md.append("| " + " | ".join(cells) + " |")
    text = "\n".join(md) + "\n"
    write_text(out / TRIALS_MD, text)
    return text


def write_best_config(settings: dict, path: Path, comment: str) -> None:
    """``settings`` as a YAML config that ``medtrain train --config`` reads."""
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    write_text(path, head + yaml.safe_dump(settings, sort_keys=False, default_flow_style=None))


def _agg_canvas(fig) -> None:
    """A ``figure.hooks`` entry: optuna's figure drawn on an Agg canvas, whatever the caller's backend (its
    importance plot measures its bar labels with ``canvas.get_renderer``, which only Agg canvases have: under
    an svg or pdf backend it failed; the PNG is rendered by Agg either way)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)


def write_plots(study: optuna.Study, out: Path) -> list[str]:
    """Optuna's optimisation history and (with 2+ finished trials) fANOVA parameter importances as PNGs
    in ``out``; returns what could not be drawn and why.

    Optuna draws only through pyplot (its ``plt.subplots``, and a ``plt.style.use("ggplot")`` that had
    restyled every later figure of the process). The caller's matplotlib is left as it was: its backend is
    never switched (a ``matplotlib.use("Agg")`` here had stopped a notebook's inline figures), interactive
    mode is off while drawing (no window or widget appears), the style is scoped to the drawing
    (``rc_context``), and each figure is closed even when drawing fails, so pyplot holds none of ours after.
    """
    import matplotlib
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    skipped = []
    plots = ((HISTORY_PNG, ovm.plot_optimization_history), (IMPORTANCE_PNG, ovm.plot_param_importances))
    complete = [t for t in study.get_trials(deepcopy=False) if t.state in FINISHED and t.value is not None]
    for name, draw in plots:
        if name == IMPORTANCE_PNG and len(complete) < 2:
            skipped.append(f"{name}: parameter importance needs 2 finished trials, the study has {len(complete)}")
            continue
        known = set(plt.get_fignums())
        with matplotlib.rc_context({"figure.hooks": [f"{__name__}:{_agg_canvas.__name__}"]}), plt.ioff():
            try:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                        ax = draw(study)
                except (ValueError, RuntimeError) as e:  # e.g. importances of parameters that never varied
                    skipped.append(f"{name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
                    continue
                fig = getattr(ax, "figure", None) or ax.flat[0].figure
                fig.set_size_inches(7, 4.5)
                fig.tight_layout()
                with atomic_path(out / name) as tmp:
                    fig.savefig(tmp, format="png", dpi=100)
            finally:  # the figures optuna opened for this plot, and only those (the caller's stay open)
                for num in set(plt.get_fignums()) - known:
                    plt.close(num)
    return skipped
