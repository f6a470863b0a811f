"""A comparison's grid as :mod:`medtrain.compare` records and names it: its cells' folders, the recipe files of
``--vary config=A.yaml,B.yaml`` and how a cell's settings are layered over them, ``grid.json`` (the grid, seeds,
base settings and recipes a folder holds, which another grid is checked against) and the notes under a summary
whose runs were not made alike (other run formats, other medtrain code)."""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
from pathlib import Path

from medtrain import config as config_mod
from medtrain._io import json_safe
from medtrain._yaml import read_yaml_mapping
from medtrain.config import Config
from medtrain.config.settings import unknown_setting
from medtrain.errors import MedtrainError
from medtrain.reuse import RESUMABLE_KEYS
from medtrain.rundir import FORMAT_0, recorded_format

GRID_FILE = "grid.json"  #: the grid, seeds and base settings whose cells and summary the folder holds
_NOT_BASE = (*RESUMABLE_KEYS, "seed")  #: settings of the base that do not change a cell's result (or vary by cell)
RECIPE_KEY = "config"  #: ``--vary config=A.yaml,B.yaml``: whole recipes, each a YAML file as ``train --config`` reads


def cell_name(cell: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in cell.items()).replace("/", "_") or "base"


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A recipe file of ``--vary config=...``: ``name`` its stem (the cell's value and folder name), ``path`` the
    file, ``settings`` as it gives them (each value read into its setting's type), ``sha256`` its bytes'."""
    name: str
    path: str
    settings: dict
    sha256: str

    def record(self) -> dict:
        return {"file": self.path, "sha256": self.sha256, "settings": _as_json(self.settings)}


def _as_json(settings: dict) -> dict:
    return json.loads(json.dumps(json_safe(settings), default=str))


def load_recipes(grid: dict) -> tuple[dict, dict[str, Recipe]]:
    """The grid with its recipe files (``config``) named by their stems, and those recipes by name. Refused in one
    line, before anything is written: a file missing or not YAML settings, an unknown setting or value in it
    (naming the file), ``seed`` or ``out`` set in it (``--seeds`` and ``--out`` set them for every cell), two
    files of one stem (the cells' names)."""
    if RECIPE_KEY not in grid:
        return grid, {}
    recipes: dict[str, Recipe] = {}
    for value in grid[RECIPE_KEY]:
        if not isinstance(value, (str, os.PathLike)):
            raise MedtrainError(f"grid config: each value is a recipe's YAML file, a path; got {type(value).__name__} "
                                f"{value!r:.60}")
        path = Path(os.path.expanduser(os.fspath(value))).absolute()
        bytes_, raw = _read_recipe(path)
        settings = {}
        for key, v in raw.items():
            name = str(key).replace("-", "_")
            if name in ("seed", "out"):
                raise MedtrainError(f"recipe file {path} sets {name}: {'--seeds' if name == 'seed' else '--out'} "
                                    f"sets it for every cell of the comparison; remove it from the file")
            if name not in config_mod.KEYS:
                raise MedtrainError(f"recipe file {path}: {unknown_setting(name)}")
            try:
                settings[name] = config_mod.coerce(name, v)
            except MedtrainError as e:
                raise MedtrainError(f"recipe file {path}: {e}") from None
        if path.stem in recipes:
            raise MedtrainError(f"recipe files {recipes[path.stem].path} and {path} share the name '{path.stem}', "
                                f"which names a cell (OUT/config={path.stem}/...); rename one of them")
        recipes[path.stem] = Recipe(path.stem, str(path), settings, hashlib.sha256(bytes_).hexdigest())
    return {k: (list(recipes) if k == RECIPE_KEY else vs) for k, vs in grid.items()}, recipes


def _read_recipe(path: Path) -> tuple[bytes, dict]:
    """A recipe file's bytes, read once, and the settings they hold, read as ``train --config`` reads a file
    (:func:`medtrain._yaml.read_yaml_mapping`, with ``--config``'s one-line errors): the recipe hashed is the
    recipe run. The file had been read twice, parsed from the first read and hashed from the second, so that a file
    saved in between was recorded (``grid.json``'s ``sha256``) as one recipe and run as another."""
    return read_yaml_mapping(path, "recipe file")


def resolve_cell(base: dict, cell: dict, recipes: dict[str, Recipe], *more: dict) -> Config:
    """A cell's settings, merged as ``train --config FILE FLAGS`` merges them: its recipe file's settings (where
    the grid varies ``config``) under the base (the command's flags) and the cell's other values of the grid,
    then ``more``. An error of a recipe's cell names the recipe's file."""
    if RECIPE_KEY not in cell:
        return config_mod.resolve(base, cell, *more)
    recipe = recipes[cell[RECIPE_KEY]]
    try:
        return config_mod.resolve(recipe.settings, base, {k: v for k, v in cell.items() if k != RECIPE_KEY}, *more)
    except MedtrainError as e:
        raise MedtrainError(f"{cell_name(cell)} ({recipe.path}): {e}") from None


def recipes_note(recipes: dict[str, Recipe], base: dict, grid: dict) -> str:
    """The sentence naming each recipe's file and the settings of it that the command replaced, as its flags
    replace a ``train --config`` file's ('' without recipes)."""
    if not recipes:
        return ""
    files = ", ".join(f"{r.name} = {r.path}" for r in recipes.values())
    replaced = []
    for r in recipes.values():
        keys = [k for k in r.settings if k in base or k in grid]
        if keys:
            replaced.append(f"{r.name}'s " + ", ".join(f"{k} {r.settings[k]!r} (by "
                                                       f"{'--' + k.replace('_', '-') if k in base else '--vary'})"
                                                       for k in keys))
    return f"Recipes (--vary config): {files}." + (
        f" The command's settings replace theirs: {'; '.join(replaced)}." if replaced else "")


def base_settings(base: dict, grid: dict, recipes: dict[str, Recipe]) -> dict:
    """The settings every cell shares, resolved (``--epochs 3`` and the default 3 are one), as JSON writes them;
    resolved with the first cell's values, as the base alone need not be a valid run. A recipe's own settings
    (not replaced by the base) are its cells', not shared: ``grid.json`` records them with the recipe."""
    first = {k: vs[0] for k, vs in grid.items()}
    settings = resolve_cell(base, first, recipes).to_dict()
    own = {k for r in recipes.values() for k in r.settings} - set(base)
    shared = {k: v for k, v in settings.items() if k not in _NOT_BASE and k not in grid and k not in own}
    return _as_json(shared)


def _grid_flags(grid: dict, seeds: list) -> str:
    # (a grid from Python keeps its values as given: 8, not "8")
    strs = {k: [str(v) for v in vs] for k, vs in grid.items()}
    vary = " ".join(f"--vary {k}={(';' if any(',' in v for v in vs) else ',').join(vs)}" for k, vs in strs.items())
    return f"{vary or 'no --vary'} x seeds {', '.join(map(str, seeds))}"


def check_same_grid(out: Path, grid: dict[str, list[str]], seeds: list[int], base: dict,
                    recipes: dict[str, Recipe] | None = None) -> dict:
    """Refuse a grid whose summary would no longer summarise every cell of the comparison already in ``out``
    (its ``grid.json``): other axes, a value or seed of the earlier grid left out, other base settings, a recipe
    file whose settings changed since its cells ran. The summary had been replaced silently (``--vary
    dropout=0,0.5`` then ``--vary weight_decay=0,0.1`` into one folder left the dropout cells on disk,
    summarised nowhere; a user walkthrough). The same grid again reuses its finished cells and rewrites the
    summary; one that adds values or seeds to it is accepted too, its summary covering the earlier cells and the
    new ones. A folder written before ``grid.json`` is checked by its cell folders (:func:`_check_cell_folders`).
    Returns the record to write for this grid."""
    recipes = recipes or {}
    record = {"grid": grid, "seeds": list(seeds), "base": base_settings(base, grid, recipes)}
    if recipes:
        record["recipes"] = {name: r.record() for name, r in recipes.items()}
    path = out / GRID_FILE
    if not path.is_file():
        _check_cell_folders(out, grid, seeds)
        return record
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        old_grid, old_seeds, old_base = dict(old["grid"]), list(old["seeds"]), dict(old["base"])
        old_recipes = dict(old.get("recipes") or {})
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise MedtrainError(f"{path} cannot be read ({e}); it records the grid this folder holds: delete it only "
                            f"if no other grid's cells are in {out}") from None
    other = (list(old_grid) != list(grid) or any(v not in grid[k] for k, vs in old_grid.items() for v in vs)
             or any(s not in seeds for s in old_seeds))
    changed = [(k, v, record["base"][k]) for k, v in old_base.items() if k in record["base"]
               and record["base"][k] != v]  # a setting only one version of medtrain has is left out
    if other:
        raise MedtrainError(f"--out {out} holds the comparison of another grid ({_grid_flags(old_grid, old_seeds)}), "
                            f"whose cells this one's summary would leave out; run that grid again (adding values or "
                            f"seeds to it is fine) or give another --out")
    if changed:
        shown = "; ".join(f"{k}: {a!r}, now {b!r}" for k, a, b in changed[:3])
        raise MedtrainError(f"--out {out} holds this grid run with other base settings ({shown}), whose cells this "
                            f"one's summary would mix with its own; give the same settings or another --out")
    for name, new in record.get("recipes", {}).items():
        was = (old_recipes.get(name) or {}).get("settings")
        if was is not None and was != new["settings"]:
            diff = [(k, was.get(k, "unset"), new["settings"].get(k, "unset")) for k in {**was, **new["settings"]}
                    if was.get(k, "unset") != new["settings"].get(k, "unset")]
            shown = "; ".join(f"{k}: {a!r}, now {b!r}" for k, a, b in diff[:3])
            raise MedtrainError(f"--out {out} holds the cells of recipe {name} with other settings than "
                                f"{new['file']} now gives ({shown}; {GRID_FILE} records the earlier ones), whose "
                                f"runs this summary would mix with its own; restore the file or give another --out")
    return record


def _check_cell_folders(out: Path, grid: dict[str, list[str]], seeds: list[int]) -> None:
    """A folder without ``grid.json`` (a comparison of an earlier version): refuse it where it holds a cell's
    seed run that this grid's summary would leave out, naming it; its cells and seeds are accepted. Such a folder
    had been taken over silently by another grid. A cell folder is one named as :func:`cell_name` names them
    (``KEY=V,...`` of settings, or ``base``) holding a ``seedN`` folder."""
    if not out.is_dir():
        return
    names = {cell_name(dict(zip(grid, combo))) for combo in itertools.product(*grid.values())}
    wanted = {f"seed{s}" for s in seeds}
    for cell in sorted(p for p in out.iterdir() if p.is_dir()):
        key = cell.name.split("=", 1)[0]
        if cell.name != "base" and not ("=" in cell.name and (key in config_mod.KEYS or key == RECIPE_KEY)):
            continue
        runs = sorted(p.name for p in cell.iterdir() if p.is_dir() and re.fullmatch(r"seed-?\d+", p.name))
        left = [r for r in runs if cell.name not in names or r not in wanted]
        if left:
            raise MedtrainError(f"--out {out} holds the comparison of another grid ({cell / left[0]}, a run this "
                                f"grid's summary would leave out; the folder has no {GRID_FILE}, from an earlier "
                                f"medtrain); run that grid again or give another --out")


def _by_cell(results: list[dict], of) -> list[tuple[str, dict]]:
    """Each cell's name and its runs' ``of(run)`` values, each with the seeds whose runs have it."""
    cells = []
    for r in results:
        by: dict = {}
        for m in r["runs"]:
            seeds = by.setdefault(of(m), [])
            seeds += [] if m.get("seed") in seeds else [m.get("seed")]
        cells.append((cell_name(r["cell"]), by))
    return cells


def formats_note(results: list[dict]) -> str:
    """The note under a comparison whose runs were started by medtrain of different run formats
    (:data:`medtrain.rundir.RUN_FORMAT`), naming each cell's (and, in a cell of several, each seed's); "" where
    all share one. A default or rule changed between formats, so such cells need not be one recipe (cells trained
    before and after an upgrade had been summarised as one grid without a word)."""
    cells = _by_cell(results, lambda m: recorded_format(m.get("provenance")))
    if len({f for _, by in cells for f in by}) < 2:
        return ""
    named = "; ".join(f"{name}: " + ", ".join(f"{f}" + (f" (seed {', '.join(map(str, seeds))})" if len(by) > 1 else "")
                                               for f, seeds in sorted(by.items())) for name, by in cells)
    zero = f" (format 0: {FORMAT_0})" if any(0 in by for _, by in cells) else ""
    return (f"Run formats differ: {named}{zero}. A default or rule changed between formats, so cells of different "
            "formats are not one recipe: train them again with this medtrain to compare them")


def code_of(metrics: dict) -> dict:
    """The medtrain that made a run, as its ``metrics.json`` provenance records it: ``version``, and where it ran
    from a git checkout, ``commit`` and ``modified`` (tracked files differed from the commit)."""
    p = metrics.get("provenance") or {}
    git = p.get("medtrain_git") or {}
    return {"version": p.get("medtrain"), "commit": git.get("commit"), "modified": git.get("modified")}


def _code_text(code: tuple) -> str:
    version, commit, modified = code
    if version is None and commit is None:
        return "medtrain not recorded"
    changes = " with local changes" if modified else " unmodified" if modified is False else ""
    return f"medtrain {version or '?'}" + (f" at commit {commit[:8]}{changes}" if commit else "")


def code_note(results: list[dict]) -> str:
    """The note under a comparison whose runs were not all made by the same medtrain (version, commit, modified
    checkout; :func:`code_of`), naming the code most runs had and each cell (and seed) that had other code; ''
    where all had one. A checkout edited or upgraded between a comparison's runs had left cells of three commits
    summarised as one grid without a word (a walkthrough)."""
    cells = _by_cell(results, lambda m: tuple(code_of(m).values()))
    counts: dict = {}
    for r in results:
        for m in r["runs"]:
            code = tuple(code_of(m).values())
            counts[code] = counts.get(code, 0) + 1
    if len(counts) < 2:
        return ""
    common = max(counts, key=counts.get)
    other = "; ".join(f"{name} (seed {', '.join(map(str, seeds))}): {_code_text(code)}" for name, by in cells
                      for code, seeds in by.items() if code != common)
    return (f"Not all runs were made by the same medtrain: {counts[common]} of {sum(counts.values())} by "
            f"{_code_text(common)}; other code in {other}. A difference between these cells may come from the code, "
            f"not from their settings: train them again with one medtrain to compare them")


def units_code_note(units: list[tuple[str, dict]], what: str) -> str:
    """:func:`code_note` for runs that are not a grid's cells: ``units``, ``(name, metrics)`` of each (``"fold 2"``,
    ``"trial #3"``), ``what`` they are (``"folds"``, ``"trials"``); '' where one medtrain made them all. A
    cross-validation reusing the folds an older medtrain had trained, or a resumed tune study, had mixed the two
    into one mean, or one best trial, without a word while compare named it (an upgrade walkthrough)."""
    codes = [(name, tuple(code_of(m).values())) for name, m in units]
    counts: dict = {}
    for _, code in codes:
        counts[code] = counts.get(code, 0) + 1
    if len(counts) < 2:
        return ""
    common = max(counts, key=counts.get)
    other = "; ".join(f"{name}: {_code_text(code)}" for name, code in codes if code != common)
    return (f"Not all {what} were made by the same medtrain: {counts[common]} of {len(codes)} by "
            f"{_code_text(common)}; other code in {other}. Their figures may differ by the code, not by the data: "
            f"train them again with one medtrain to compare them")


def code_record(results: list[dict]) -> dict:
    """Each run's medtrain (:func:`code_of`) by ``CELL/seedS`` (a fold run's: ``CELL/seedS/foldK``), for
    ``grid.json``."""
    out = {}
    for r in results:
        for m in r["runs"]:
            fold = (m.get("cv") or {}).get("fold")
            out[f"{cell_name(r['cell'])}/seed{m.get('seed')}" + (f"/fold{fold}" if fold is not None else "")] = \
                code_of(m)
    return out
