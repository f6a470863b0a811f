"""``medtrain tune``: hyperparameter search with Optuna over the settings of ``train``.

TPE sampling (Bergstra et al., NeurIPS 2011) and median pruning of the trials' learning curves (Optuna's
Lightning pruning callback on the validation metric), over a YAML search space of ``train``'s flat keys
(:mod:`medtrain.tune.space`). Each trial is a run directory ``OUT/trials/NNN`` (``OUT/trials-NAME/NNN`` for a
``--study-name`` other than ``tune``) trained without its test split and scored on validation; the study lives
in a database (:mod:`medtrain.tune.study`), so Ctrl-C keeps every finished trial and the same command continues
the study. When the search ends, the best trial is evaluated on test once, and the search writes:

* ``best_config.yaml``: the base settings with the best trial's values (and the flips every trial was trained
  with, where the study decided them once: :mod:`medtrain.tune.flips`), for ``medtrain train --config``;
* ``trials.csv`` / ``trials.md``: one row per trial; ``history.png`` and ``importance.png`` (Optuna's
  optimisation history and fANOVA parameter importances);
* ``best.json``: the best trial, its validation score and its test evaluation (also in its run directory,
  ``eval_test.json``, and in its ``report.html``, rewritten with it), and ``earlier_bests_tested``: the trials
  whose test split an earlier, shorter run of the search scored as its best (a resumed search's best can change;
  ``tested_outside_search``: trials a ``medtrain eval`` of their run scored, if any);
* ``report.html``: all of it on one self-contained page (the study, the trials, the plots, the best config, and the
  best trial's test numbers once, labelled as reported only, with every other trial whose test split was scored
  and why: their numbers are kept, as they cannot be unseen, and said to be no answer of the study).
"""
from __future__ import annotations

import os
import shlex
import shutil
import time
from pathlib import Path
from typing import Callable

from medtrain import config as config_mod, rundir
from medtrain._compare_grid import units_code_note
from medtrain._io import write_json
from medtrain._train_inputs import _as_config, check_settings
from medtrain.api import RESUMABLE_KEYS, evaluate
from medtrain.config import Config
from medtrain.config.settings import base_settings
from medtrain.data import load_splits
from medtrain.errors import MedtrainError, TrainingInterrupted
from medtrain.reports.summary import auc_acc_line
from medtrain.training.distributed import check_devices, single_process_only
from medtrain.tune.report import (
    BEST_CONFIG, HISTORY_PNG, IMPORTANCE_PNG, earlier_best_note, recorded_test, refresh_run_report, scored_trials,
    write_best_config, write_html, write_plots, write_trials,
)  # fmt: skip
from medtrain.tune.flips import FLIP_ATTR, flip_rule_refusal, pin_of, study_flip
from medtrain.tune.pruning import Budget, best_trial, clock, value_of
from medtrain.tune.space import FIXED, BUILTIN, candidates, load_space, parse_space
from medtrain.tune.storage_errors import shown_url
from medtrain.tune.study import (
    TRIALS_DIR, check_limits, check_study_name, connect, counted, default_storage, finished_trials, open_study,
    score_of_repeat,
    reports_dir, run_study, running_note, study_exists, train_trial, trials_dir,
)  # fmt: skip

__all__ = ["tune", "BUILTIN", "load_space", "parse_space", "open_study", "run_study", "connect"]

BEST_FILE = "best.json"
DEFAULT_STUDY = "tune"


def prepare_storage(out: Path, storage: str | None):
    """Connect to ``storage`` (default: ``OUT/study.db``) and create ``out``; an unreachable database
    leaves nothing behind. Returns the storage and its URL."""
    created = not out.exists()
    db = connect(storage) if storage else None  # a given URL is tried before anything is written
    try:
        out.mkdir(parents=True, exist_ok=True)
        url = storage or default_storage(out)
        return db or connect(url), url
    except MedtrainError:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise


def check_typed(base: dict, params: list, url: str, study_name: str, typed: set, trials: int | None = None) -> None:
    """Refuse, before any trial trains and with nothing written, what ``train`` refuses typed for a new run
    (:func:`medtrain.config.checks.check_typed_for_a_new_run`: ``--store mmap`` on DICOM/NIfTI data,
    ``--image-size`` on arrays, flip false with a flipping TTA, flip auto with one that flips an axis no op of the
    augmentation flips, mc_dropout with annealed dropout): every trial had trained with a warning and recorded it
    (``--store mmap`` on a CSV of DICOM files). The trials' settings are
    the base's (``base``; ``typed``: those of its keys typed, all of a dict's, none of a Config's) and the
    space's (``params``), so, as ``compare`` does with its grid:

    * a value of the space that train refuses with the base settings is refused, named, in
      :mod:`medtrain.tune.space`'s words (``search space tta: value 'hflip' is refused by train (flip false ...)``);
      the key's other values are not (``tta: [none, shift]`` with ``--flip false`` searches);
    * a base setting is refused, in train's one line, only where no checked value of the space makes it right
      (``--mc-dropout 3 --dropout-kind annealed --anneal-epochs 2`` with ``epochs: [1, 2]`` searches);
    * two searched values that conflict only with each other (``flip: [true, false]`` with ``tta: [none,
      hflip]``) are not refused: neither is wrong alone, and a flat space cannot leave out the pair; a trial that
      draws it trains as train trains those settings from a config file, and is scored like any other;
    * but for the values of ``flip``, ``tta``, ``augment`` and ``transfer``, which train's rule of a flipping TTA
      (:func:`medtrain.config.flips.check_tta_flips_trained`) refuses for every run, a config file's too: their
      combinations are checked (:func:`medtrain.tune.flips.flip_rule_refusal`), and one the rule refuses is
      refused, named (``search space augment 'none' with tta 'hflip' is refused by train (...)``): the trial that
      drew it had been refused inside train, stopping the search.

    A study ``url`` already holds (``study_name``) is not checked: an earlier run recorded these settings with
    it, its trials are ranked only with trials trained alike (another setting is refused by
    :func:`medtrain.tune.study.open_study`), so a rerun continues it, or reads it, as before; a database that
    cannot be read is refused in one line (:func:`medtrain.tune.study.study_exists`), not taken for one without it.
    The rule of a flipping TTA is the exception: train refuses every trial that draws what it refuses (the base
    alone too: ``--tta flip`` with ``flip,shift``, which an older medtrain accepted), so a rerun of such a study
    with ``trials`` left (None, or more than it holds finished) is refused, naming what works (another ``--out`` or
    ``--study-name``: a study's settings cannot change); with none left (``--trials`` reached) it is read."""
    checks, memo = config_mod.checks, {}  # each data read once (whether --store mmap applies), not once per value
    cells = [(p.key, v, config_mod.resolve(base, {p.key: v})) for p in params for v in candidates(p)]
    own = None
    for key, v, cfg in cells:
        try:
            checks.check_typed_for_a_new_run(cfg, {key}, memo)
        except MedtrainError as e:
            own = own or MedtrainError(f"search space {key}: value {v!r} is refused by train ({e})")
    try:
        checks.check_typed_for_cells([cfg for _, _, cfg in cells], typed, memo)
    except MedtrainError as e:
        own = own or e
    flips = flip_rule_refusal(base, params)  # train refuses it in every trial: a study's rerun too
    exists = (own is not None or flips is not None) and study_exists(url, study_name)
    if own is not None and not exists:
        raise own
    if flips is not None and not exists:
        raise flips
    if flips is not None and _trials_left(url, study_name, trials):
        raise MedtrainError(f"{flips}; study {study_name!r} in {shown_url(url)} keeps the settings it was started "
                            "with: search with others under another --out or --study-name")


def _trials_left(url: str, study_name: str, trials: int | None) -> bool:  # a rerun of the study trains one
    import optuna

    return trials is None or len(finished_trials(optuna.load_study(study_name=study_name,
                                                                   storage=connect(url)))) < trials


def tune(base: dict | Config | None, space: dict | None, out: str | Path, *, trials: int | None = None,
         budget_minutes: float | None = None, storage: str | None = None, study_name: str = DEFAULT_STUDY,
         log: Callable[[str], None] = print, started: float | None = None) -> dict:
    """Search ``space`` (``None``: the built-in space) on top of the settings ``base``; see the module.

    Args:
        base: settings every trial shares: a dict of flat keys (as in a config file), a
            :class:`~medtrain.config.Config` (its settings other than the defaults, as ``compare`` reads one: the
            space may search those; train's checks of typed settings apply to a dict's keys, as train applies
            them, not to a Config's), or None (the defaults); ``out`` is ignored.
        space: the search space mapping (:mod:`medtrain.tune.space`).
        out: the output folder (trial run directories, tables, plots, the default SQLite study).
        trials: stop when the study holds this many finished trials (counting earlier runs' trials).
        budget_minutes: a deadline for the whole search, this many minutes after ``started`` (the flip pilots
            count): no trial starts that the longest trial so far says would end after it (the first always
            starts), and a trial training at the deadline stops at that epoch's end and is recorded pruned
            (``pruned: budget``). The best trial's test evaluation and the reports come after it.
        storage: a SQLAlchemy URL of the study database (default ``sqlite:///OUT/study.db``).
        study_name: the study's name in the storage; also names its trials' folder (``OUT/trials`` for the
            default, ``OUT/trials-NAME`` otherwise), so studies sharing ``out`` never share run directories.
        started: the ``time.monotonic()`` time the budget counts from (the CLI's: its command's start, before
            the seconds of importing this module); default: this call.

    Returns:
        the content of ``best.json``, as JSON holds it: ``run_dir``, the best trial's run directory, is a string
        (``medtrain.load(result["run_dir"])``; ``Path(result["run_dir"])`` for a path).

    Raises:
        MedtrainError: in one line, a ``base`` of another kind, a bad setting or value of the space, before
            anything is written.
    """
    started = time.monotonic() if started is None else started
    # a Config as compare reads one (it had been "'Config' object has no attribute 'items'")
    if isinstance(base, Config):  # checked as train checks one; its settings as given, not as resolved (a
        _as_config(base)  # resolved Config(pretrained=...) had pinned transfer: finetune as if typed)
    base, typed = base_settings(base)
    base = {k.replace("-", "_"): v for k, v in base.items() if k.replace("-", "_") != "out"}
    typed = {k.replace("-", "_") for k in typed} - {"out"}
    cfg = config_mod.resolve(base)
    single_process_only(cfg, "medtrain tune")
    check_devices(cfg)  # as train refuses them, before the study exists (the flip pilots' Lightning had a traceback)
    params = parse_space(space, base)
    check_limits(trials, budget_minutes)
    check_study_name(study_name)
    check_settings(cfg)
    out = Path(out)
    check_typed(base, params, storage or default_storage(out), study_name, typed, trials)
    splits = load_splits(cfg)  # data that cannot be read, or --folds, are refused before the study exists
    folder = trials_dir(out, study_name, DEFAULT_STUDY)
    created = not out.exists()
    db, url = prepare_storage(out, storage)
    fixed = {k: v for k, v in cfg.to_dict().items() if k not in RESUMABLE_KEYS}
    settings = {"command": "tune", "monitor": cfg.monitor, "space": {p.key: p.to_dict() for p in params},
                "base": fixed}
    study = open_study(db, study_name, cfg.monitor, cfg.seed, settings)
    n_before = len(finished_trials(study))
    done = sorted(p for p in folder.glob("*") if rundir.is_finished(p)) if n_before and cfg.data else []
    if done:  # trials of one study are ranked on one validation split: a user's changed data would re-split it
        rundir.run_splits(done[0], rundir.load_config(done[0]))
    log(f"tune: study {study_name!r} in {shown_url(url)} ({counted(n_before)} so far); trials in {folder}")
    if note := running_note(study):
        log(f"tune: {note}")

    pin = {}  # the flips decided once for the study (medtrain.tune.flips), pinned for every trial
    budget = Budget.of(budget_minutes, started, trials)  # the search's one deadline: run_study's and the trials'

    def objective(trial) -> float:
        values = {p.key: p.suggest(trial) for p in params}
        score = score_of_repeat(study, trial)
        if score is not None:  # a space of few choices draws a finished trial again: its score, not a retraining
            return score
        run_dir = folder / f"{trial.number:03d}"
        return train_trial(trial, config_mod.resolve(base, pin, values, {"out": str(run_dir), "progress": False}),
                           deadline=None if budget is None else budget.deadline)

    try:
        if trials is None or len(finished_trials(study)) < trials:  # (a study already done decides nothing)
            pin.update(study_flip(study, base, {p.key for p in params}, lambda s=splits: s, folder / "flip-pilots",
                                  log))
        del splits  # the trials read their own data
        spent = run_study(study, objective, trials, log=log, budget=budget, progress=cfg.progress)
    except MedtrainError:  # a first trial train refused: no study is left behind to block the corrected command
        if created and not finished_trials(study):
            shutil.rmtree(out, ignore_errors=True)
        raise
    except KeyboardInterrupt:
        write_trials(study, reports_dir(out, study_name, DEFAULT_STUDY))
        # one line, the CLI's (it printed this on stdout and then its own "medtrain: interrupted" on stderr)
        n = len(finished_trials(study))
        raise TrainingInterrupted(f"tune interrupted; {counted(n)} {'is' if n == 1 else 'are'} kept in "
                                  f"{shown_url(url)}; run the same command again to continue") from None
    return finish(study, base, out, log, reports=reports_dir(out, study_name, DEFAULT_STUDY), storage=url,
                  limits={"trials": trials, "budget_minutes": budget_minutes, "spent": spent})


def finish(study, base: dict, out: Path, log: Callable[[str], None] = print, reports: Path | None = None,
           storage: str = "", limits: dict | None = None) -> dict:
    """Write the trials table, the plots and the best config into ``reports`` (default ``out``); evaluate the
    best trial on test, once, and rewrite its run's report with that evaluation; write the search's
    ``report.html`` (``storage``: the study's URL and ``limits``: this run's ``trials`` and ``budget_minutes``,
    both shown on it, and ``spent``, :func:`run_study`'s account of the budget). A best trial the budget cut (no
    trial completed: :func:`medtrain.tune.pruning.best_trial`) is said to be one. Trials an earlier run of the
    search scored as its best are named on it and in ``best.json``, and their reports say they are no longer the
    best."""
    reports = reports or out
    t0 = time.monotonic()
    table = write_trials(study, reports)
    log(table.rstrip())
    skipped = write_plots(study, reports)
    for line in skipped:
        log(f"tune: not drawn: {line}")
    try:
        best, cut = best_trial(study)
    except ValueError:
        raise MedtrainError(f"no trial of the study finished (see {reports / 'trials.md'})") from None
    # the budget stopped every trial of the study before its last epoch: the best of those, said to be one
    cut_note = (f"Trial #{best.number} was cut by the budget after epoch {best.last_step + 1} (no trial completed "
                f"within it): its value is its run's validation score over those epochs, and its run holds those "
                f"epochs only." if cut else "")
    value = value_of(best)  # a cut trial's run score, not the pruner's last epoch value
    cut_line = f"\n{cut_note}" if cut else ""
    monitor = study.user_attrs["medtrain"]["monitor"]
    pin = pin_of(study)  # the flips every trial was trained with, decided once for the study
    resolved = config_mod.resolve(base, pin, best.params).to_dict()
    keep = [k for k in dict.fromkeys([*base, *pin, *best.params]) if k not in FIXED]
    best_config = {k: resolved[k] for k in keep}
    made = study.user_attrs.get(FLIP_ATTR) or {}
    # a decision without pilots says so itself (train's record: "kept for --tta hflip, ... (no pilot runs)")
    how = made.get("how") if made.get("no_pilots") else f"decided once for the study by {made.get('how')}"
    flips = f"\nflip: {pin['flip']}, as every trial was trained: {how}." if pin else ""
    write_best_config(best_config, reports / BEST_CONFIG,
                      f"The best of {len(finished_trials(study))} trials of `medtrain tune` (trial #{best.number}, "
                      f"{monitor} {value:.4f} on validation).{flips}{cut_line}\nTrain with: "
                      f"medtrain train --config {shlex.quote(str(reports / BEST_CONFIG))} --out RUN")
    run_dir = locate_run(best.user_attrs.get("run_dir", ""), out)
    record = {"trial": best.number, "params": best.params, "val": {monitor: value}, "run_dir": str(run_dir),
              "finished_trials": len(finished_trials(study))}
    if cut:
        record["cut_by_budget"] = True
        log(f"tune: {cut_note}")
    if rundir.is_finished(run_dir):
        # The one look at test: the best trial, after the search has ended (a rerun reads that evaluation).
        done = (run_dir / rundir.eval_file("test")).is_file()
        res = rundir.read_metrics(run_dir, rundir.eval_file("test")) if done else evaluate(run_dir, "test", verbose=False)
        # the intervals with how each was made (auc_ci_method, acc_ci_reason, ...): a Newcombe or Wilson interval
        # had been printed and stored as a bootstrap one
        record["test"] = recorded_test(res)
        log(f"tune: best trial #{best.number}: {monitor} {value:.4f} (validation); "
            f"{auc_acc_line(record['test'], 'test ')}, evaluated once, after the search")
        try:  # its report was written during the search, without test numbers (a rerun heals an older study's)
            refresh_run_report(run_dir, res)
        except MedtrainError as e:  # e.g. a run folder that is read-only here: the search's own outputs still come
            log(f"tune: its report was not rewritten with the test numbers ({e})")
    else:  # a shared study whose best trial ran on another machine
        earlier = _earlier_test(reports, best.number, run_dir)
        if earlier:  # this folder's own record of that evaluation is kept, not dropped by a rerun
            record["test"] = earlier
        log(f"tune: best trial #{best.number} ran in {run_dir}, not here; evaluate it there with "
            f"`medtrain eval {shlex.quote(str(run_dir))}`")
    folder = trials_dir(out, study.study_name, DEFAULT_STUDY)
    scored = _earlier_scored(study, folder, best.number, log)
    record["earlier_bests_tested"] = [t["trial"] for t in scored if t["earlier_best"]]
    if others := [t["trial"] for t in scored if not t["earlier_best"]]:
        record["tested_outside_search"] = others
    if record["earlier_bests_tested"]:
        log(f"tune: the test split was also scored for {', '.join(f'#{n}' for n in record['earlier_bests_tested'])}"
            f", the best of an earlier, shorter run of this search; kept, reported only, not the study's answer")
    # trials trained by another medtrain (a study resumed after an upgrade), as compare names its cells'
    if note := units_code_note(_trial_metrics(study, out), "trials"):
        record["code_note"] = note
        log(f"tune: {note}")
    page = write_html(study, reports, record, best_config, storage=storage, limits=limits, skipped=skipped,
                      trials_dir=folder, scored=scored)
    write_json(reports / BEST_FILE, record)  # last: a best.json of this run says its reports are all written
    # every file the search writes (trials.csv and the plots had been left out: a claims walk)
    wrote = [BEST_CONFIG, "trials.md", "trials.csv", *(n for n in (HISTORY_PNG, IMPORTANCE_PNG)
                                                       if (reports / n).is_file()), BEST_FILE]
    log(f"tune: wrote {', '.join(wrote)} and {Path(page).name} in {reports}")
    if (limits or {}).get("spent"):
        log(f"tune: the test evaluation and the reports took {clock(time.monotonic() - t0)} after the budget's "
            f"search, not counted in it")
    return record


def _earlier_scored(study, folder: Path, best: int, log: Callable[[str], None]) -> list[dict]:
    """The trials of ``folder`` other than ``best`` whose test split has been scored (:func:`scored_trials`).
    Each that an earlier, shorter run of the search scored as its best has its report say so: it had been
    rewritten with its test numbers as the best's, and read as if they were still held back and the study's answer
    (they are kept: deleting them would hide that they were scored)."""
    scored = scored_trials(study, folder, best)
    for t in scored:
        run, note = Path(t["run_dir"]), earlier_best_note(t["trial"], best)
        if not t["earlier_best"] or not t["res"] or _says(run / rundir.REPORT_FILE, note):
            continue
        try:
            refresh_run_report(run, t["res"], note=note)
        except MedtrainError as e:
            log(f"tune: the report of trial #{t['trial']}, an earlier best, was not rewritten to say so ({e})")
    return scored


def _says(page: Path, note: str) -> bool:
    """Whether the report ``page`` already holds ``note`` (a rerun leaves it as it is)."""
    import html

    try:
        return html.escape(note, quote=False) in page.read_text(encoding="utf-8")
    except OSError:
        return False


def _trial_metrics(study, out: Path) -> list[tuple[str, dict]]:
    """``("trial #N", metrics.json)`` of each finished trial whose run is here and readable."""
    found = []
    for t in finished_trials(study):
        run = locate_run(t.user_attrs.get("run_dir") or "", out) if t.user_attrs.get("run_dir") else None
        if run is not None and rundir.is_finished(run):
            try:
                found.append((f"trial #{t.number}", rundir.read_metrics(run)))
            except MedtrainError:  # a damaged file: its trial is left out of the comparison of code
                continue
    return found


def locate_run(stored: str, out: Path) -> Path:
    """The run directory a trial recorded, absolute, preferring its copy in the output folder ``out``: the part
    of the path from its trials folder (``trials``, ``trials-NAME``) on, looked up in ``out``. So a study folder
    that was moved or copied finds its own runs (a copy's best.json had pointed at the original's run, a moved
    one had lost its test result), as does a study of earlier versions that stored the path relative to the
    working directory of the search. Otherwise the path as recorded (a shared study's run on another machine)."""
    if not stored:
        return Path(stored)
    path = Path(stored)
    parts = path.parts
    at = [i for i, p in enumerate(parts) if p == TRIALS_DIR or p.startswith(TRIALS_DIR + "-")]
    if at:
        here = Path(os.path.abspath(out.joinpath(*parts[at[-1]:])))
        if rundir.is_finished(here) or not path.is_absolute():
            return here
    return Path(os.path.abspath(path))


def _earlier_test(out: Path, trial: int, run_dir: Path) -> dict | None:
    """The test block an earlier ``best.json`` in ``out`` holds for the same best trial (same number, same
    run directory: another study may have written it), or None."""
    import json

    try:
        earlier = json.loads((out / BEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(earlier, dict) or earlier.get("trial") != trial:
        return None
    return earlier.get("test") if locate_run(str(earlier.get("run_dir") or ""), out) == run_dir else None
