"""``compare``: a grid over config keys x seeds, each cell a normal run directory.

Finished cells (a ``metrics.json``) are skipped on re-run and interrupted ones resumed, so a long
comparison can be stopped and continued. The summary is a Markdown and a CSV table of mean ± std.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

from medtrain import config as config_mod
from medtrain._io import write_text
from medtrain.errors import MedtrainError, suggest


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


# Settings that may differ between a finished cell and a re-run without changing its result.
_IGNORED = ("out", "progress", "data_dir")


def _check_same_settings(run_dir: Path, cfg) -> None:
    """A cell is reused only if it was run with the same settings (else its numbers would be stale)."""
    import yaml

    from medtrain.api import CONFIG_FILE

    saved_file = run_dir / CONFIG_FILE
    if not saved_file.is_file():
        return
    saved = config_mod.resolve({k: v for k, v in yaml.safe_load(saved_file.read_text()).items()
                                if k in config_mod.KEYS})
    want = cfg.to_dict()
    have = saved.to_dict()
    if want.get("model") == "auto":  # the saved config names the network auto resolved to
        want["model"] = have["model"]
    diff = [k for k in want if k not in _IGNORED and want[k] != have[k]]
    if diff:
        k = diff[0]
        raise MedtrainError(f"{run_dir} was run with other settings ({k}: {have[k]!r}, now {want[k]!r}"
                            f"{f' and {len(diff) - 1} more' if len(diff) > 1 else ''}); use another --out")


def compare(base: dict, grid: dict[str, list[str]], seeds: list[int], out: str | Path, verbose: bool = True) -> list[dict]:
    """Run every cell of ``grid`` for every seed on top of ``base`` settings; write summary.md/.csv."""
    from medtrain.api import CONFIG_FILE, METRICS_FILE, train
    from medtrain.reports.tables import summarise, to_csv, to_markdown

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
            _check_same_settings(run_dir, cfg)
            if (run_dir / METRICS_FILE).is_file():
                if verbose:
                    print(f"compare: {run_dir} finished, skipped")
                runs.append(json.loads((run_dir / METRICS_FILE).read_text()))
                continue
            if verbose:
                print(f"compare: {run_dir}", flush=True)
            if (run_dir / CONFIG_FILE).is_file():
                runs.append(train({"progress": False}, resume=run_dir, verbose=False))
            else:
                runs.append(train(cfg, verbose=False))
        results.append({"cell": cell, "runs": runs})
    rows = summarise(results)
    cmd_base = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in base.items())
    header = f"Grid over {', '.join(keys) or 'nothing'} x seeds {seeds}; base settings: {cmd_base or 'defaults'}\n\n"
    write_text(out / "summary.md", header + to_markdown(rows, keys))
    write_text(out / "summary.csv", to_csv(rows, keys))
    if verbose:
        print(to_markdown(rows, keys))
    return rows
