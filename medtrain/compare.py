"""``compare``: a grid over config keys x seeds, each cell a normal run directory.

Finished cells (a ``metrics.json``) are skipped on re-run and interrupted ones resumed, so a long
comparison can be stopped and continued. The summary is a Markdown and a CSV table of mean ± std, and
``report.html``: the same table with every seed's value, and a figure of per-seed dots.
"""
from __future__ import annotations

import itertools
from pathlib import Path

from medtrain import config as config_mod
from medtrain._io import write_text
from medtrain.api import train_or_reuse
from medtrain.errors import MedtrainError, suggest
from medtrain.reports.html import write_comparison_report
from medtrain.reports.tables import summarise, to_csv, to_markdown
from medtrain.rundir import is_finished


def parse_vary(items: list[str]) -> dict[str, list[str]]:
    """``["dropout=0,0.5", "model=a,b"]`` -> ``{"dropout": ["0", "0.5"], "model": ["a", "b"]}``."""
    grid: dict[str, list[str]] = {}
    for it in items:
        if "=" not in it:
            raise MedtrainError(f"--vary takes KEY=V1,V2,..., got '{it}'")
        key, values = it.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in config_mod.KEYS:
            raise suggest(key, config_mod.KEYS, "setting")
        vals = [v.strip() for v in values.split(";" if ";" in values else ",") if v.strip()]
        if not vals:
            raise MedtrainError(f"--vary {key} has no values")
        grid[key] = vals
    return grid


def _cell_name(cell: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in cell.items()).replace("/", "_") or "base"


def compare(base: dict, grid: dict[str, list[str]], seeds: list[int], out: str | Path, verbose: bool = True) -> list[dict]:
    """Run every cell of ``grid`` for every seed on top of ``base`` settings; write summary.md/.csv and
    report.html."""
    out = Path(out)
    keys = list(grid)
    cells = [dict(zip(keys, combo)) for combo in itertools.product(*grid.values())] or [{}]
    # Validate every cell before training any, so a typo in the last value fails at once.
    for cell in cells:
        config_mod.resolve(base, cell)
    results = []
    for cell in cells:
        runs = []
        for seed in seeds:
            run_dir = out / _cell_name(cell) / f"seed{seed}"
            cfg = config_mod.resolve(base, cell, {"seed": seed, "out": str(run_dir), "progress": False})
            if verbose:
                print(f"compare: {run_dir}" + (" finished, skipped" if is_finished(run_dir) else ""), flush=True)
            runs.append(train_or_reuse(cfg))
        results.append({"cell": cell, "runs": runs})
    rows = summarise(results)
    cmd_base = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in base.items())
    header = f"Grid over {', '.join(keys) or 'nothing'} x seeds {seeds}; base settings: {cmd_base or 'defaults'}\n\n"
    write_text(out / "summary.md", header + to_markdown(rows, keys))
    write_text(out / "summary.csv", to_csv(rows, keys))
    write_comparison_report(out, keys, results, header.strip())
    if verbose:
        print(to_markdown(rows, keys))
    return rows
