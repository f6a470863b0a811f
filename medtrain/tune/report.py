"""What a finished search writes: the trials table, the best config as YAML, Optuna's optimisation-history
and parameter-importance plots, its ``report.html``, and the best trial's own report with its test numbers.

A resumed search whose best trial changed has scored the test split of an earlier best too (at the end of the
earlier run): those numbers cannot be unseen, so they are kept and said for what they are, on the search's page
(:func:`scored_trials`) and on that trial's own report (:func:`earlier_best_note`), never dropped."""
from __future__ import annotations

import csv
import io
import os
import urllib.parse
import warnings
from pathlib import Path

import optuna

from medtrain import rundir
from medtrain._io import write_text
from medtrain._yaml import write_yaml
from medtrain.errors import MedtrainError
from medtrain.reports.html import write_tune_report
from medtrain.reports.names import metric_name
from medtrain.reports.summary import auc_acc_line, auc_undefined_text
from medtrain.runscores import write_eval_file
from medtrain.tune.pruning import CUT, CUT_ATTR, CUT_STORY_ATTR, best_trial, budget_said, value_of
from medtrain.tune.storage_errors import shown_url
from medtrain.tune.study import FINISHED, fail_stale_trials, failed_why

TRIALS_CSV, TRIALS_MD = "trials.csv", "trials.md"
HISTORY_PNG, IMPORTANCE_PNG = "history.png", "importance.png"
BEST_CONFIG = "best_config.yaml"


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def trial_rows(study: optuna.Study) -> tuple[list[str], list[list]]:
    """Header and one row per trial: number, state, value, seconds, epochs reported (``epochs_run``: a
    searched ``epochs`` is a parameter column of its own), each parameter, and, where a trial failed for a reason
    it recorded (``interrupted`` by Ctrl-C, a diverged training) or the search's budget cut it (``budget``: its
    value is its run's score, :func:`medtrain.tune.pruning.value_of`; a trial of several seeds says which seed it
    stopped or never started and how many its value averages, ``epochs_run`` being its first seed's), or it drew a
    finished trial's parameters again and took its score (``repeat_of``), a last ``why`` column saying it."""
    trials = study.get_trials(deepcopy=False)
    names = list(dict.fromkeys(k for t in trials for k in t.params))
    # a repeat of finished parameters takes their score untrained: said, or the table read as one more tried (a walk)
    why = [failed_why(t, study) if t.state == optuna.trial.TrialState.FAIL else
           _cut_why(t) if t.state == optuna.trial.TrialState.PRUNED and t.user_attrs.get(CUT_ATTR) == CUT else
           f"the parameters of #{t.user_attrs['repeat_of']} drawn again: its score, not trained again"
           if t.user_attrs.get("repeat_of") is not None else None for t in trials]
    header = ["trial", "state", "value", "seconds", "epochs_run", *names, *(["why"] if any(why) else [])]
    rows = []
    for t, reason in zip(trials, why):
        secs = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start \
            else None
        rows.append([t.number, t.state.name.lower(), value_of(t), secs, len(t.intermediate_values),
                     *[_param(t.params.get(k)) for k in names], *([reason] if any(why) else [])])
    return header, rows


def _param(v):
    """A parameter as trials.csv writes it: a float without the binary noise of a stepped draw (Optuna stores a 0.1
    step as 0.30000000000000004), to 12 significant digits."""
    return float(f"{v:.12g}") if isinstance(v, float) else v


def _cut_why(trial) -> str:
    """``budget``, or for a trial of several seeds ``budget: seed 1 stopped after epoch 1, seed 2 not started; the
    mean of 2 of its 3 seeds`` (:data:`~medtrain.tune.pruning.CUT_STORY_ATTR`)."""
    story = trial.user_attrs.get(CUT_STORY_ATTR)
    return f"{CUT}: {story}" if story else CUT


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
        best = best_trial(study)[0].number  # a trial the budget cut where none completed
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
    write_yaml(path, settings, comment=comment, flow_lists=True)


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

    from medtrain.reports.png import save_png

    skipped = []
    metric = metric_label(study)
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
                        ax = draw(study, target_name=metric)
                except (ValueError, RuntimeError) as e:  # e.g. importances of parameters that never varied
                    skipped.append(f"{name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
                    continue
                if name == HISTORY_PNG:
                    _history_axes(ax, study, metric)
                fig = getattr(ax, "figure", None) or ax.flat[0].figure
                fig.set_size_inches(7, 4.5)
                fig.tight_layout()
                save_png(fig, out / name, dpi=100, tight=False)  # a palette PNG, as its report embeds it
            finally:  # the figures optuna opened for this plot, and only those (the caller's stay open)
                for num in set(plt.get_fignums()) - known:
                    plt.close(num)
    return skipped


def metric_label(study: optuna.Study) -> str:
    """What the study's values are, for an axis, named as the learning curve names it
    (:func:`medtrain.reports.names.metric_name`): ``val AUC`` for a study ranked on ``val_auc``; "objective value"
    where the study records no monitor (Optuna's default: "Objective Value")."""
    monitor = (study.user_attrs.get("medtrain") or {}).get("monitor", "")
    return metric_name(monitor) if monitor else "objective value"


def _history_axes(ax, study: optuna.Study, metric: str) -> None:
    """Optuna's history plot, finished: integer trial numbers on the x axis (it had ticks at 0.5, 1.5), and the
    pruned trials, which it leaves out, at their last reported value with a marker of their own (a study whose
    pruned trials were half of it had looked like a few trials and a best line running over gaps)."""
    from matplotlib.ticker import MaxNLocator

    pruned = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.PRUNED,))
              if t.value is not None]
    if pruned:
        ax.scatter([t.number for t in pruned], [t.value for t in pruned], marker="x", color="tab:gray",
                   label=f"pruned (last {metric} reported)")
        ax.legend(bbox_to_anchor=(1.05, 1.0), loc="upper left")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(metric)


def refresh_run_report(run_dir: Path, res: dict, note: str = "") -> None:
    """Rewrite the best trial's ``report.html`` with its test evaluation ``res`` (it was written during the search,
    when the trial held no test numbers), through the run directory's one report writer; ``note`` (a former best's
    :func:`earlier_best_note`) is shown by the run's template above its results. The note is kept with the
    evaluation (``eval_test.json``'s ``report_note``), so a later rewrite of the report (``medtrain eval --data``
    adding an external site) shows it again with the numbers it is about: it had been dropped."""
    import jinja2

    try:
        if note:
            write_eval_file(run_dir, rundir.eval_file("test"), {**res, rundir.REPORT_NOTE: note}, verbose=False)
        rundir.write_report(run_dir, rundir.read_config(run_dir), rundir.tested_metrics(rundir.read_metrics(run_dir),
                                                                                         res),
                            note=note)
    except jinja2.UndefinedError as e:  # a metrics.json without what the page shows (an older medtrain's run)
        raise MedtrainError(f"{run_dir / rundir.METRICS_FILE} lacks what its report shows ({e})") from None


def recorded_test(res: dict) -> dict:
    """What the search records of a test evaluation ``res`` (``best.json``'s ``test``): AUC, ACC, patients and the
    intervals with how each was made (``auc_ci_method``, ``acc_ci_reason``, ...), and ``auc_undefined`` where a
    class (or label) of the test split had no image: without it the AUC was a bare None, which the printed line
    failed to format (a crash at the end of the search, and again on every rerun)."""
    return {k: v for k, v in res.items()
            if k in ("auc", "acc", "patients", "auc_undefined") or k.startswith(("auc_ci", "acc_ci"))}


def earlier_best_note(trial: int, best: int) -> str:
    """What a former best trial's own report says of the test numbers it shows."""
    return (f"These test numbers were scored when this trial (#{trial}) was the best of an earlier, shorter run of "
            f"the search. The search went on and trial #{best} is now its best: these numbers are not held back any "
            f"more and are not the study's answer (trial #{best}'s are); they were never used to choose.")


def _was_best(study: optuna.Study, number: int) -> bool:
    """Whether trial ``number`` was the study's best when it finished: complete, and strictly better than every
    complete trial that finished before it (Optuna keeps the first of equal ones)."""
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    this = next((t for t in done if t.number == number), None)
    if this is None or this.value is None:
        return False
    better = (lambda a, b: a > b) if study.direction == optuna.study.StudyDirection.MAXIMIZE else (lambda a, b: a < b)

    def before(t) -> bool:  # finish times where both have one (workers run trials side by side), else numbers
        if t.datetime_complete and this.datetime_complete:
            return t.datetime_complete < this.datetime_complete
        return t.number < number

    return all(better(this.value, t.value) for t in done if t.number != number and before(t) and t.value is not None)


def scored_trials(study: optuna.Study, folder: Path, best: int) -> list[dict]:
    """Every trial but ``best`` whose test split has been scored: an ``eval_test.json`` in its run folder
    ``folder/NNN``. Each: ``trial``, ``run_dir``, ``res`` (the evaluation), ``test`` (:func:`recorded_test`) and
    ``earlier_best``: whether it was the study's best when it finished, so the search scored it as its best at the
    end of an earlier, shorter run (otherwise a ``medtrain eval`` of its run did, not the search)."""
    found = []
    for run in sorted(folder.iterdir()) if folder.is_dir() else ():
        if not (run.name.isdigit() and int(run.name) != best and (run / rundir.eval_file("test")).is_file()):
            continue
        try:
            res = rundir.read_metrics(run, rundir.eval_file("test"))
        except MedtrainError:  # unreadable: it is still a trial whose test split was scored
            res = {}
        found.append({"trial": int(run.name), "run_dir": str(run), "res": res, "test": recorded_test(res),
                      "earlier_best": _was_best(study, int(run.name))})
    return found


def _test_note(test: dict) -> str:
    """How the test intervals were made, as the search's printed line says it: the parenthesis that
    :func:`medtrain.reports.summary.auc_acc_line` ends with (``95% bootstrap CIs``, or the method of each
    interval that is not a bootstrap one and why), without the numbers the page shows in its cards."""
    if not (isinstance(test.get("acc"), (int, float))
            and (isinstance(test.get("auc"), (int, float)) or test.get("auc_undefined"))):
        return ""
    line = auc_acc_line(test, "test ")
    return line[line.rindex("  (") + 3:-1] if "  (" in line else ""


def _budget(limits: dict | None) -> str:
    """``--trials 20 and --budget 30 min: used 29m41s of 30m00s (...); trial #7 cut by it`` (``limits``' ``spent``:
    :func:`medtrain.tune.study.run_study`'s account of the budget, where this run trained under one)."""
    parts = [f"--trials {limits['trials']}" if (limits or {}).get("trials") is not None else "",
             f"--budget {limits['budget_minutes']:g} min" if (limits or {}).get("budget_minutes") is not None else ""]
    spent = (limits or {}).get("spent")
    return (" and ".join(p for p in parts if p) or "–") + (f": {budget_said(spent)}" if spent else "")


def _shown_storage(url: str) -> str:
    """The study's URL without its password (the page is for sharing; a PostgreSQL URL may hold one)."""
    return shown_url(url)


def _run_link(reports: Path, run_dir: str) -> str | None:
    """A relative link from the search's page to a trial's own report, or None where there is none."""
    page = Path(run_dir) / rundir.REPORT_FILE
    if not run_dir or not page.is_file():
        return None
    try:
        return urllib.parse.quote(Path(os.path.relpath(page, reports)).as_posix())
    except ValueError:  # another drive (Windows): no relative path
        return None


def write_html(study: optuna.Study, reports: Path, record: dict, best_config: dict, *, storage: str,
               trials_dir: Path, limits: dict | None = None, skipped: list[str] = (),
               scored: list[dict] = ()) -> Path:
    """The search's ``report.html`` in ``reports``: the study (storage, finished, pruned and failed trials, the
    run's budget, the space), the best trial with its validation score and, once and labelled as reported only,
    its test numbers (``record``: ``best.json``'s content), every other trial whose test split was scored
    (``scored``: :func:`scored_trials`, with their role), the trials table, the two plots and the best config."""
    trials = study.get_trials(deepcopy=False)
    states = [t.state.name.lower() for t in trials]
    settings = study.user_attrs.get("medtrain") or {}
    header, rows = trial_rows(study)
    study_info = {"name": study.study_name, "storage": _shown_storage(storage),
                  "monitor": settings.get("monitor", "value"), "direction": study.direction.name.lower(),
                  "finished": sum(t.state in FINISHED for t in trials), "complete": states.count("complete"),
                  "pruned": states.count("pruned"), "failed": states.count("fail"), "running": states.count("running"),
                  "budget": _budget(limits), "space": settings.get("space") or {}, "trials_dir": str(trials_dir)}
    page = {"title": f"Hyperparameter search: {study.study_name}", "study": study_info, "header": header,
            "rows": [[_cell(v) for v in r] for r in rows], "skipped": list(skipped),
            "best_row": next((i for i, r in enumerate(rows) if r[0] == record["trial"]), None), "best": record,
            "test_note": _test_note(record.get("test") or {}),
            "auc_undefined": auc_undefined_text(record.get("test") or {}, "the test split", 3), "best_config": best_config,
            "config_path": str(reports / BEST_CONFIG), "run_link": _run_link(reports, record.get("run_dir") or ""),
            "scored": [{**{k: t[k] for k in ("trial", "run_dir", "test", "earlier_best")},
                        "link": _run_link(reports, t["run_dir"])} for t in scored]}
    return write_tune_report(reports, page, {"history": reports / HISTORY_PNG, "importance": reports / IMPORTANCE_PNG})
