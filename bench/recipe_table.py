"""Tables of finished default-recipe runs for ``docs/results/default_recipe.md``: per seed, the test AUC/ACC
with their bootstrap CIs, the validation numbers, what the choices on validation decided (with their
validation scores), calibration, the epoch kept, wall time and peak memory; then the mean ± std over seeds.

    python bench/recipe_table.py runs/v2-breastmnist runs/v2-retinamnist ...

Each argument is a run directory or a folder of them (a ``medtrain compare --out`` folder). The last line
of stdout is JSON: per dataset, the mean and standard deviation of test AUC and ACC, wall time and peak RSS.
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import yaml


def _runs(paths: list[str]) -> list[dict]:
    found = []
    for p in map(Path, paths):
        for m in sorted([p / "metrics.json"] if (p / "metrics.json").is_file() else p.rglob("metrics.json")):
            if "pilot" not in m.parts:
                cfg = yaml.safe_load((m.parent / "config.yaml").read_text())
                found.append({**json.loads(m.read_text()), "config": cfg})
    return found


def _pair(d: dict, a: str, b: str) -> str:
    return f"{d[a]:.3f} / {d[b]:.3f}"


def _choices(c: dict) -> tuple[str, str, str]:
    flip, tta, cw = c["flip"], c["tta"], c["class_weights"]
    f = "on" if flip["chosen"] else "off"
    if "val_auc" in flip:
        f += f" ({_pair(flip['val_auc'], 'with', 'without')})"
    t = tta["chosen"] + (f" ({_pair(tta['val_auc'], 'none', 'hflip')})" if "val_auc" in tta else "")
    w = cw["chosen"]
    if "val_acc" in cw:  # with the rule fitted on validation: its cross-fitted accuracy
        fitted = f" / fitted {cw['val_acc_crossfit']['val-fitted']:.3f}" if "val_acc_crossfit" in cw else ""
        w += f" ({_pair(cw['val_acc'], 'balanced', 'prior-adjusted')}{fitted})"
    return f, t, w


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def main(paths: list[str]) -> int:
    runs = _runs(paths)
    summary = {}
    for ds in dict.fromkeys(r["dataset"] for r in runs):
        mine = sorted((r for r in runs if r["dataset"] == ds), key=lambda r: r["seed"])
        print(f"\n### {ds}: {len(mine)} seed(s)\n")
        print("| seed | test AUC [95% CI] | test ACC [95% CI] | val AUC | val ACC | flips (pilot val AUC with / without) "
              "| TTA (val AUC none / hflip) | class weights (val ACC balanced / adjusted / fitted, cross-fitted) | lr | precision "
              "| epoch kept (1-based; rule) | wall | peak RSS |")
        print("|" + "---|" * 13)
        for r in mine:
            t = r["test"]
            f, tt, w = _choices(r["choices"])
            lr = r.get("config", {}).get("lr", "")
            print(f"| {r['seed']} | {t['auc']:.3f} [{t['auc_ci'][0]:.3f}, {t['auc_ci'][1]:.3f}] "
                  f"| {t['acc']:.3f} [{t['acc_ci'][0]:.3f}, {t['acc_ci'][1]:.3f}] | {r['val']['auc']:.3f} "
                  f"| {r['val']['acc']:.3f} | {f} | {tt} | {w} | {lr} | {r.get('precision', '')} "
                  f"| {r['best_epoch'] + 1} ({r.get('checkpoint', 'best')}) "
                  f"| {r['wall_s']:.0f} s | {r['peak_rss_mb'] / 1024:.1f} GB |")
        auc, acc = _mean_std([r["test"]["auc"] for r in mine]), _mean_std([r["test"]["acc"] for r in mine])
        wall = [r["wall_s"] for r in mine]
        print(f"\nmean: test AUC {auc[0]:.3f} ± {auc[1]:.3f}, test ACC {acc[0]:.3f} ± {acc[1]:.3f}; "
              f"wall {min(wall):.0f}-{max(wall):.0f} s")
        summary[ds] = {"seeds": [r["seed"] for r in mine], "test_auc": auc, "test_acc": acc,
                       "val_auc": _mean_std([r["val"]["auc"] for r in mine]),
                       "wall_s": [round(w) for w in wall], "peak_rss_mb": [round(r["peak_rss_mb"]) for r in mine]}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
