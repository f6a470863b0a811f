"""``compare``: a grid over config keys x seeds, each cell a normal run directory.

Finished cells (a ``metrics.json``) are skipped on re-run and interrupted ones resumed, so a long
comparison can be stopped and continued. ``grid.json`` records the grid, seeds and base settings a folder holds;
another grid into that folder is refused (:func:`check_same_grid`). The summary is a Markdown and a CSV table of mean ± std, a LaTeX
(booktabs) one to paste into a paper (``summary.tex``), and
``report.html``: the same table with every seed's value, and a figure of per-seed dots.
With ``folds`` K (in the base settings or as a ``--vary folds=0,5`` axis) a cell's seed is a K-fold
cross-validation (:mod:`medtrain.crossval`, its ``cv.json`` in the seed's folder) and its K fold runs are
what the cell's mean ± std is over. ``--vary config=A.yaml,B.yaml`` compares whole recipes: each cell's settings
are its YAML file's under the command's flags, as ``train --config`` merges them (:mod:`medtrain._compare_grid`).
Under the summary, a note names the cells whose runs other medtrain code made (version, commit, modified).
"""
from __future__ import annotations

import dataclasses
import itertools
import numbers
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from medtrain import config as config_mod
from medtrain._out_checks import check_out_of_data
from medtrain._compare_grid import (GRID_FILE, RECIPE_KEY, cell_name, check_same_grid, code_note, code_record,
                                    formats_note, load_recipes, recipes_note, resolve_cell)
from medtrain._io import write_json, write_text
from medtrain._progress import Overall
from medtrain._train_inputs import _as_config, check_bools, check_settings
from medtrain.api import RESUMABLE_KEYS, check_reusable, train_or_reuse
from medtrain.config import Config
from medtrain.config.settings import base_settings, unknown_setting
from medtrain.reuse import check_same_data
from medtrain.augment import read_keys
from medtrain.crossval import cross_validate, fold_dir
from medtrain.data import load_splits
from medtrain.errors import MedtrainError
from medtrain.reports.html import write_comparison_report
from medtrain.reports._table_notes import operating_point_note, pooled_oof_note
from medtrain._crossval_pairs import pooled_versus
from medtrain.reports.tables import summarise, to_csv, to_latex, to_markdown
from medtrain.rundir import is_finished, load_config, read_metrics
from medtrain.training.distributed import single_process_only
from medtrain.training.build import check_color_space, check_model_dims
from medtrain.training.fit import changed_settings, check_augment


def parse_vary(items: list[str]) -> dict[str, list[str]]:
    """``["dropout=0,0.5", "model=a,b"]`` -> ``{"dropout": ["0", "0.5"], "model": ["a", "b"]}``, each axis checked
    by :func:`add_axis`."""
    grid: dict[str, list[str]] = {}
    for it in items:
        if "=" not in it:
            raise MedtrainError(f"--vary takes KEY=V1,V2,..., got '{it}'")
        key, values = it.split("=", 1)
        add_axis(grid, key, _split(values, it))
    return grid


def _split(values: str, given: str) -> list[str]:
    """``"0,0.5"`` -> ``["0", "0.5"]`` (``;`` between values where one holds a comma). An empty value between two
    others is refused (``lr=0.1,,0.2`` had dropped it without a word); a trailing separator is allowed."""
    parts = [v.strip() for v in values.split(";" if ";" in values else ",")]
    if any(not v for v in parts[:-1]):
        raise MedtrainError(f"--vary {given}: an empty value between separators; give each value once")
    return [v for v in parts if v]


def add_axis(grid: dict, key, vals: list) -> None:
    """Check one axis of a grid, its values as ``--vary KEY=V1,V2`` splits them or as :func:`compare`'s list
    gives them, and add it to ``grid`` under its setting's name (``batch-size``: ``batch_size``). The one owner
    of these checks: a list had skipped them (``{"seed": [0, 1]}`` had labelled seed-0 runs "seed 1",
    ``{"dropout": [0, 0.0]}`` trained one setting twice as two rows)."""
    if not isinstance(key, str):
        raise MedtrainError(f"grid: its keys are settings' names ('dropout'); got {type(key).__name__} {key!r:.40}")
    key = key.strip().replace("-", "_")
    if key not in config_mod.KEYS and key != RECIPE_KEY:  # config: whole recipes, YAML files
        raise unknown_setting(key, [*config_mod.KEYS, RECIPE_KEY])
    if key in ("seed", "out"):  # --vary seed=... was overwritten by each run's seed of --seeds, silently
        raise MedtrainError(f"--vary {key}: {'--seeds' if key == 'seed' else '--out'} sets it, not --vary")
    if key in grid:  # the last of two axes of one setting replaced the first
        raise MedtrainError(f"--vary {key} is given twice; list every value in one: --vary {key}=A,B")
    if key in RESUMABLE_KEYS:  # cells that differ only in it train the same run twice
        raise MedtrainError(f"--vary {key}: it does not change a run's result; give it once as --{key.replace('_', '-')}")
    if not vals:
        raise MedtrainError(f"--vary {key} has no values")
    same = [v for i, v in enumerate(vals) if any(_same_value(key, v, w) for w in vals[:i])]
    if same:  # '0,0' showed one run as two rows; '0,0.0' trained the same setting twice
        raise MedtrainError(f"--vary {key}: {same[0]!r} repeats a value given before it")
    grid[key] = vals


def _same_value(key: str, a, b) -> bool:
    """Whether two values of ``key`` are one setting (``0`` and ``0.0``); a value that does not parse is left
    to the grid's own check, which names it: a string (a recipe file's name) is one value where it is the
    same string; any other (a list's ``(images, labels)``, which ``==`` cannot compare) is not."""
    try:
        return getattr(config_mod.resolve({key: a}), key) == getattr(config_mod.resolve({key: b}), key)
    except MedtrainError:
        return isinstance(a, (str, os.PathLike)) and isinstance(b, (str, os.PathLike)) and a == b


def _flag(key: str, value) -> str:
    """A setting as the command line writes it (``--no-progress``, not ``--progress False``)."""
    flag = key.replace("_", "-")
    if isinstance(value, bool):
        return f"--{flag}" if value else f"--no-{flag}"
    return f"--{flag} {','.join(map(str, value)) if isinstance(value, (list, tuple)) else value}"


#: the settings that decide the images' shape and channels (what an augmentation op can apply to)
_SHAPE_KEYS = ("dataset", "data", "data_dir", "size", "image_size", "volume_size", "spacing", "group_column",
               "skip_bad")


def _check_augment_on_data(cfgs: list) -> None:
    """Each cell's augmentation applied to two of its training images, its colour space and its network's
    dimensionality checked against the data, before any cell trains (``hed`` on grey images had failed in its
    cell after the others had trained), the data read once per shape setting."""
    by_data: dict = {}
    for cfg in cfgs:
        by_data.setdefault(tuple(str(getattr(cfg, k)) for k in _SHAPE_KEYS), []).append(cfg)
    for group in by_data.values():
        splits = load_splits(dataclasses.replace(group[0], folds=0, fold=None))
        for cfg in group:
            check_augment(cfg, splits, new=False)
            check_color_space(cfg, splits)  # hed on grey images fails here, not mid-grid
            check_model_dims(cfg, splits)


def _trains(cfg, run_dir: Path) -> bool:
    """Whether ``run_dir``, a cell's seed run of ``cfg``, is yet to be trained (a cross-validation: any fold)."""
    if cfg.folds and cfg.fold is None:
        return not all(is_finished(fold_dir(run_dir, k)) for k in range(cfg.folds))
    return not is_finished(run_dir)


def _check_typed(base: dict, cells: list[dict], cfgs: list, new: list[bool]) -> None:
    """Refuse, before any cell trains, what ``train`` refuses typed for a new run
    (:func:`medtrain.config.checks.check_typed_for_a_new_run`: ``--store mmap`` on DICOM/NIfTI data, ``--image-size``
    on arrays, flip false with a flipping TTA, flip auto with one that flips an axis the augmentation never flips
    (:func:`medtrain.config.flips.trained_flip_axes`: its flip ops, flip_p, rot90's half-turns), mc_dropout with
    annealed dropout), in its one line: the cells had trained with a warning and recorded it (``--store mmap`` on a
    CSV of DICOM files). ``cfgs``: each cell's
    settings; ``new``: whether it has a run to train (a finished grid run again is read, as it was). Refused: a
    new cell's own value of the grid, and a base setting that no cell of the grid takes, where a cell is new: a
    grid's setting applies to the cells that read it (``--image-size 64 --vary data=a.npz,b.csv`` sizes the CSV's
    images). A new linear-probe cell's own value that a probe never reads is refused as ``train`` refuses it
    (:func:`medtrain.config.checks.check_probe_read`: ``--transfer linear-probe --vary flip=true,false`` had trained
    two probes that ignore the flag, which ``train --transfer linear-probe --flip false`` refuses); here, not in
    the per-cell check that ``train(dict)`` shares, which checks the probe's settings itself."""
    if not any(new):
        return
    checks, memo = config_mod.checks, {}  # each data read once (whether --store mmap applies), not once per cell
    for cell, cfg, is_new in zip(cells, cfgs, new):
        if is_new:
            checks.check_probe_read(cfg, set(cell))
            checks.check_typed_for_a_new_run(cfg, set(cell), memo)
    checks.check_typed_for_cells(cfgs, base, memo)


def _arguments(base, grid, seeds, out, verbose) -> tuple[dict, dict, dict, list[int], Path]:
    """:func:`compare`'s arguments as it reads them: the base settings, those of them typed (a dict's; as
    :func:`medtrain.api.train` checks a dict's typed settings and not a Config's), the grid, the seeds and the
    folder. A Config (``compare(Config(...), ...)`` had been "argument of type 'Config' is not iterable") is read
    as train reads one; its settings at their defaults are not the base's (a Config cannot tell them from typed
    ones), so the grid may vary them (:func:`medtrain.config.settings.base_settings`, which tune shares). The
    base's seed (a dict's ``seed``, a Config's other than the default 0) is the seeds where none are given, and
    refused beside other seeds (:func:`_seeds`). A grid's values given as one string are split as ``--vary
    KEY=V1,V2`` splits them (``"0.0,0.2"`` had been read character by character); each axis, a string's or a
    list's, is checked as ``--vary``'s are (:func:`add_axis`). Any other kind of argument: one line naming it."""
    check_bools(verbose=verbose)
    if isinstance(base, Config):  # checked as train checks one; its settings as given, not as resolved (a
        _as_config(base)  # resolved Config(pretrained=...) had pinned transfer: finetune as if typed)
    base, typed = base_settings(base)
    seed = base.pop("seed", None)  # each cell's seed is one of seeds: the base's would be overwritten, unsaid
    typed.pop("seed", None)
    if not isinstance(grid, Mapping):
        raise MedtrainError(f"grid must be a dict of settings and their values ({{'dropout': [0.0, 0.2]}}); got "
                            f"{type(grid).__name__} {grid!r:.60}")
    values = {}
    for key, vs in grid.items():
        if isinstance(vs, str):  # as the command line's --vary KEY=V1,V2 (';' where a value holds a comma)
            add_axis(values, key, _split(vs, f"{key}={vs}"))
        elif isinstance(vs, (Mapping, bytes)) or not isinstance(vs, Iterable):
            raise MedtrainError(f"grid {key}: give its values as a list ([{vs!r:.40}]) or as one string "
                                f"'V1,V2' (as --vary {key}=V1,V2); got {type(vs).__name__}")
        elif not (vs := list(vs)):  # no cell at all had trained the base settings as one cell named 'base'
            raise MedtrainError(f"grid {key} has no values")
        else:  # checked as --vary's values are: seed, out, a repeated value, ... (one line, before any training)
            add_axis(values, key, vs)
    seeds = _seeds(seeds, seed)
    if not isinstance(out, (str, os.PathLike)):
        raise MedtrainError(f"out must be the grid's folder, a path; got {type(out).__name__} {out!r:.60}")
    return base, typed, values, seeds, Path(out)


def _seeds(seeds, seed) -> list[int]:
    """The seeds every cell trains: ``seeds``, or, where it is None, the base's ``seed`` alone (``[0]`` without
    one: the command line's default ``--seeds 1``). The base's seed beside other seeds is refused in one line:
    ``compare(Config(seed=5), grid, [0])`` had trained seed 0 and said nothing of the 5."""
    if seed is not None:
        seed = config_mod.coerce("seed", seed)  # a dict's "5" as the seed 5, a bad one named
    if seeds is None:
        return [0 if seed is None else seed]
    if isinstance(seeds, (str, bytes, Mapping)) or not isinstance(seeds, Iterable):  # 0 had been "not iterable"
        raise MedtrainError(f"seeds must be a list of seeds ([0, 1, 2] or range(3)); got {type(seeds).__name__} "
                            f"{seeds!r:.60}")
    seeds = list(seeds)
    if not seeds:  # every cell's mean had been NaN, of no run
        raise MedtrainError("compare needs at least one seed; seeds is empty")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, numbers.Integral)]
    if bad:
        raise MedtrainError(f"seeds: {bad[0]!r} is not an integer seed")
    seeds = [int(s) for s in seeds]
    if seed is not None and seeds != [seed]:
        raise MedtrainError(f"base seed {seed} and seeds {seeds}: every cell trains the seeds of seeds, so the "
                            f"base's seed would be ignored; give the seeds in seeds only, or leave seeds out (None) "
                            f"to train seed {seed}")
    return seeds


def compare(base: dict | Config | None, grid: dict[str, list | str], seeds: list[int] | None = None,
            out: str | Path | None = None, verbose: bool = True) -> list[dict]:
    """Run every cell of ``grid`` for every seed on top of ``base`` settings; write summary.md/.csv/.tex and
    report.html. A folder holding another grid's comparison is refused before any cell trains
    (:func:`check_same_grid`).

    Args:
        base: the settings every cell shares: a dict of ``train``'s flat keys (as ``medtrain.train`` takes them),
            a :class:`~medtrain.config.Config` (its settings other than the defaults), or None (the defaults).
        grid: each varied setting and its values, ``{"dropout": [0.0, 0.2]}``, or the values as one string as
            ``--vary`` writes them, ``{"dropout": "0.0,0.2"}`` (``;`` between values that hold a comma); the
            cells are the product of the values. ``"config"``: recipes, YAML files of settings as ``train
            --config`` reads them (``{"config": ["a.yaml", "b.yaml"]}``): each cell's settings are its file's
            under ``base`` and the other keys' values; a cell is named by its file's stem (``config=a``), and
            ``grid.json`` records each file's settings, so that an edited file is refused on a rerun.
        seeds: the seeds every cell trains, a list of integers (``range(3)``: the command line's ``--seeds 3``);
            None: the base's ``seed`` alone (a dict's ``seed``, a Config's other than the default 0), else
            ``[0]``. A base's seed beside seeds other than ``[seed]`` is refused (a Config's seed 0 is its
            default, not told apart: seeds decide).
        out: the grid's folder (required): ``OUT/KEY=V,.../seedS`` per cell and seed, the summaries,
            ``grid.json``.
        verbose: True or False: print each run's folder and the summary table.

    Returns:
        the summary's rows, one dict per cell: its values of the grid, and each metric's mean and ``_std`` over
        its runs.

    Raises:
        MedtrainError: in one line, an argument of another kind, a bad setting or value in any cell, a recipe
            file missing, not YAML settings, setting ``seed`` or ``out``, or of another's stem, or a folder that
            holds another grid, before any cell trains.
    """
    base, typed, grid, seeds, out = _arguments(base, grid, seeds, out, verbose)
    grid, recipes = load_recipes(grid)  # --vary config=A.yaml,B.yaml: each file's settings under the base
    keys = list(grid)
    both = [k for k in keys if k in base]
    if both:  # the axis's values silently replaced the flag's (or the YAML's), which the header still listed
        raise MedtrainError(f"{both[0]} is both varied and given as --{both[0].replace('_', '-')} {base[both[0]]} (or "
                            f"in --config); give its values in --vary only")
    cells = [dict(zip(keys, combo)) for combo in itertools.product(*grid.values())] or [{}]
    # Validate every cell before training any, so a typo in the last value fails at once.
    given, read = set(), set()
    for cell in cells:
        cfg = resolve_cell(base, cell, recipes)
        single_process_only(cfg, "compare")
        check_settings(cfg)
        given |= set(cfg.augment_params) | set(changed_settings(cfg))
        read |= read_keys(cfg.augment, {**cfg.to_dict(), **cfg.augment_params})
    idle = sorted(given - read)  # given to the grid, read by none of its cells (each cell may leave some unread)
    if idle:
        raise MedtrainError(f"{', '.join(idle)}: no cell's --augment reads it; it would be recorded but not used")
    cfgs = [resolve_cell(base, cell, recipes) for cell in cells]
    _check_typed(typed, cells, cfgs, [any(_trains(cfg, out / cell_name(cell) / f"seed{s}") for s in seeds)
                                     for cell, cfg in zip(cells, cfgs)])
    # the grid's folder inside a cell's data: said of --out itself, before a cell's line is printed (each data once)
    for cfg in {(c.data, c.group_column): c for c in cfgs}.values():
        check_out_of_data(cfg, out)
    record = check_same_grid(out, grid, seeds, base, recipes)
    _check_augment_on_data(cfgs)
    dirs = {(i, seed): out / cell_name(cell) / f"seed{seed}" for i, cell in enumerate(cells) for seed in seeds}
    for (i, seed), run_dir in dirs.items():  # a changed setting had been refused only on reaching an old cell,
        # after the new cells had trained beside runs of the old settings
        check_reusable(resolve_cell(base, cells[i], recipes, {"seed": seed, "out": str(run_dir), "progress": False}))
        if is_finished(run_dir):  # and its data: a changed file had been refused after new cells trained on it
            check_same_data(load_config(run_dir), run_dir)
    # what this run creates, removed again where a refusal comes before any cell finished (grid.json had been
    # left, and refused the corrected command as "other base settings")
    made = [p for p in [out, *{d.parent for d in dirs.values()}, *dirs.values()] if not p.exists()]
    made += [] if (out / GRID_FILE).exists() else [out / GRID_FILE]
    write_json(out / GRID_FILE, record)  # before any cell trains: an interrupted grid's cells are claimed too
    finished = sum(is_finished(d) for d in dirs.values())
    show = verbose and resolve_cell(base, cells[0], recipes).progress
    try:
        results = _run_cells(cells, seeds, dirs, base, recipes, finished, show, verbose)
    except MedtrainError:
        if not finished:
            _remove_unfinished(made)
        raise
    rows = summarise(results)
    cmd_base = " ".join(_flag(k, v) for k, v in base.items())
    header = f"Grid over {', '.join(keys) or 'nothing'} x seeds {seeds}; base settings: {cmd_base or 'defaults'}\n\n"
    header += f"{about}\n\n" if (about := recipes_note(recipes, base, grid)) else ""
    # old and new cells are not one recipe; nor are cells run by other medtrain code
    codes = code_note(results)
    notes = [n for n in (formats_note(results), codes, pooled_oof_note(results, keys),
                         operating_point_note(results, keys)) if n]
    # each run's medtrain, once the runs are done
    write_json(out / GRID_FILE, {**record, "runs_code": code_record(results), **({"code_note": codes} if codes else {})})
    tail = "".join(f"\n{n}\n" for n in notes)
    write_text(out / "summary.md", header + to_markdown(rows, keys) + tail)
    write_text(out / "summary.csv", to_csv(rows, keys))
    write_text(out / "summary.tex", to_latex(rows, keys, "\n".join([header.strip(), *notes])))
    write_comparison_report(out, keys, results, " ".join([header.strip().replace("\n\n", " "), *notes]))
    if verbose:
        print((f"{about}\n\n" if about else "") + to_markdown(rows, keys) + "".join(f"\n{n}" for n in notes))
    return rows


def _run_cells(cells, seeds, dirs, base, recipes, finished, show, verbose) -> list[dict]:
    """Train (or read) every cell's runs: ``[{"cell": ..., "runs": [metrics, ...]}, ...]``."""
    results = []
    with Overall(len(dirs), "compare", done=finished, enabled=show) as bar:
        for i, cell in enumerate(cells):
            runs, pooled = [], []
            for seed in seeds:
                run_dir = dirs[i, seed]
                cfg = resolve_cell(base, cell, recipes, {"seed": seed, "out": str(run_dir), "progress": False})
                if cfg.folds and cfg.fold is None:  # a cross-validation: its fold runs count as the cell's runs
                    reused = all(is_finished(fold_dir(run_dir, k)) for k in range(cfg.folds))
                    cv = cross_validate(cfg, run_dir, verbose=False)
                    pooled.append({"seed": seed, "folds": cfg.folds, "held_out": cv["held_out"],
                                   "dirs": [fold_dir(run_dir, k) for k in range(cfg.folds)],
                                   **{k: cv["oof"].get(k) for k in ("auc", "auc_ci")}})
                    runs += [read_metrics(fold_dir(run_dir, k)) for k in range(cfg.folds)]
                    if verbose:
                        bar.write(f"compare: {run_dir} cross-validated ({cfg.folds} folds)"
                                  + (", finished, skipped" if reused else ""))
                    bar.advance()  # (a cross-validated cell counts as done when it is reached, reused or not)
                    continue
                reused = is_finished(run_dir)
                if verbose:
                    bar.write(f"compare: {run_dir}" + (" finished, skipped" if reused else ""))
                # a finished cell's settings and data were checked before any cell trained: read, not checked again
                runs.append(read_metrics(run_dir) if reused else train_or_reuse(cfg))
                if not reused:
                    bar.advance()
            results.append({"cell": cell, "runs": runs, **({"pooled_oof": pooled} if pooled else {})})
    _pair_pooled(results)
    return results


def _pair_pooled(results: list[dict]) -> None:
    """Each cross-validated cell's pooled out-of-fold predictions against the first cell's of the same seed
    (``vs_first`` of its ``pooled_oof`` entries: :func:`medtrain._crossval_pairs.pooled_versus`)."""
    first = {p["seed"]: p for p in results[0].get("pooled_oof") or []} if results else {}
    for r in results[1:]:
        for p in r.get("pooled_oof") or []:
            if (f := first.get(p["seed"])) and f["held_out"] == p["held_out"]:
                p["vs_first"] = pooled_versus(p["dirs"], f["dirs"], p["held_out"])


def _remove_unfinished(made: list[Path]) -> None:
    """Remove what a refused grid created (``grid.json``, its cell folders), deepest first; never a folder that
    holds a finished run (a cross-validation's fold) or a file this run did not make."""
    import shutil

    if any(is_finished(p) for d in made if d.is_dir() for p in [d, *d.rglob("*")] if p.is_dir()):
        return  # a cell (or a fold of one) finished: the grid holds it
    for path in sorted(made, key=lambda p: len(p.parts), reverse=True):
        if path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
