"""Regularisation study on BreastMNIST (issue 5): run the ``medtrain compare`` grids and build the report.

    python bench/regularization.py commands                 # print every command of the study
    python bench/regularization.py main --seeds 3           # (1) 6 techniques x early_stop=none,val_auc
    python bench/regularization.py best                     # technique with the best mean val AUC in (1)
    python bench/regularization.py cross --technique T --seeds 3   # (2) lambda x batch norm for T
    python bench/regularization.py mc --technique T         # one run with --mc-dropout 20
    python bench/regularization.py report                   # tables + figure from whatever has finished
    python bench/regularization.py factorial --accelerator gpu --jobs 12   # (3) the full 216-run factorial
    python bench/regularization.py factorial-report         # its tables (docs/results/regularization_factorial.md)

Every training is a ``medtrain compare`` (or ``train``) subprocess under ``nice -n 19``. ``compare`` skips
finished cells, so ``--seeds 1`` then ``--seeds 2`` then ``--seeds 3`` fills the table seed by seed and a
stopped study resumes. The test split is only reported: the best technique is chosen on validation AUC.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


OUT = ROOT / "runs" / "regularization"
DOC_FIG = ROOT / "docs" / "results" / "regularization_curves.png"
DOC = ROOT / "docs" / "results" / "regularization.md"
START, END = "<!-- tables:start (bench/regularization.py report) -->", "<!-- tables:end -->"

#: the recipe every run shares (lambda = 1e-4, batch norm on); --batch-size 32 gives 17 steps per epoch
BASE = ["--dataset", "breastmnist", "--model", "resnet10_28_half", "--epochs", "15", "--batch-size", "32",
        "--weight-decay", "1e-4", "--batch-norm", "--patience", "5", "--accelerator", "cpu", "--bootstrap", "0",
        # pinned: the defaults changed to these during the study (class-balanced loss, hflip TTA at test)
        "--class-weights", "true", "--tta", "hflip"]

#: technique -> flags; every dropout kind at p = 0.5, maxout with K = 2 pieces
TECHNIQUES = {
    "none": ["--dropout", "0"],
    "dropout": ["--dropout", "0.5", "--dropout-kind", "dropout"],
    "dropconnect": ["--dropout", "0.5", "--dropout-kind", "dropconnect"],
    "annealed": ["--dropout", "0.5", "--dropout-kind", "annealed"],
    "standout": ["--dropout", "0.5", "--dropout-kind", "standout"],
    "maxout+dropout": ["--dropout", "0.5", "--head", "maxout:2"],
}
FACTORIAL = ROOT / "runs" / "regularization_factorial"
FACTORIAL_DOC = ROOT / "docs" / "results" / "regularization_factorial.md"
FACTORIAL_FIG = ROOT / "docs" / "results" / "regularization_factorial_curves.png"
CROSS_ES = "val_auc"  #: the crossing (2) runs with early stopping (patience 5)


def _medtrain(*args: str) -> list[str]:
    return ["nice", "-n", "19", sys.executable, "-m", "medtrain", *args]


def without(args: list[str], key: str) -> list[str]:
    """``args`` less the flag of setting ``key`` and its value (``--weight-decay 1e-4``; a switch such as
    ``--batch-norm`` / ``--no-batch-norm`` has none: the next token is another flag)."""
    flag = "--" + key.replace("_", "-")
    out, i = [], 0
    while i < len(args):
        if args[i] in (flag, "--no-" + flag[2:]):
            i += 1 if i + 1 == len(args) or args[i + 1].startswith("--") else 2
            continue
        out.append(args[i])
        i += 1
    return out


def _vary(flags: list[str], *specs: str) -> list[str]:
    """``flags`` less the flags of the keys the ``--vary`` specs vary, then the specs: compare refuses a key both
    varied and given (since 6f52437), where the axis's values had silently replaced the flag's."""
    for spec in specs:
        flags = without(flags, spec.split("=", 1)[0])
    return [*flags, *(a for spec in specs for a in ("--vary", spec))]


def main_cmd(technique: str, es: str, seeds: int) -> list[str]:
    return _medtrain("compare", *_vary([*BASE, *TECHNIQUES[technique]], f"early_stop={es}"),
                     "--seeds", str(seeds), "--out", str(OUT / "main" / technique))


def cross_cmd(technique: str, seeds: int) -> list[str]:
    return _medtrain("compare", *_vary([*BASE, *TECHNIQUES[technique], "--early-stop", CROSS_ES],
                                       "weight_decay=0,1e-3,1e-4", "batch_norm=false,true"),
                     "--seeds", str(seeds), "--out", str(OUT / "cross" / technique))


def mc_cmd(technique: str, accelerator: str = "cpu", out: Path | None = None) -> list[str]:
    base = list(BASE)
    base[base.index("--accelerator") + 1] = accelerator
    return _medtrain("train", *base, *TECHNIQUES[technique], "--early-stop", "none", "--mc-dropout", "20",
                     "--seed", "0", "--no-progress", "--out", str(out or OUT / "mc" / technique))


def factorial_cmd(technique: str, es: str, seeds: int, accelerator: str) -> list[str]:
    """One technique x one early-stopping setting: lambda in {0, 1e-4, 1e-3} x BN on/off x seeds."""
    base = list(BASE)
    base[base.index("--accelerator") + 1] = accelerator
    return _medtrain("compare", *_vary([*base, *TECHNIQUES[technique], "--early-stop", es],
                                       "weight_decay=0,1e-4,1e-3", "batch_norm=true,false"),
                     "--seeds", str(seeds), "--out", str(FACTORIAL / f"early_stop={es}" / technique))


def _run_parallel(cmds: list[list[str]], jobs: int) -> None:
    """Several ``compare`` processes at once: on a GPU machine one small run leaves the device mostly idle
    (launch-bound), so running 12 side by side fills it; each process gets one CPU thread."""
    env = {**os.environ, "MEDTRAIN_DATA": os.environ.get("MEDTRAIN_DATA", "/work/shared/data"),
           "OMP_NUM_THREADS": "1"}
    pending, running, failed = list(cmds), [], 0
    while pending or running:
        while pending and len(running) < jobs:
            cmd = pending.pop(0)
            print("+", " ".join(shlex.quote(c) for c in cmd), flush=True)
            running.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL))
        for p in list(running):
            if p.poll() is not None:
                running.remove(p)
                failed += p.returncode != 0
        time.sleep(0.5)
    if failed:
        raise SystemExit(f"{failed} of {len(cmds)} compare processes failed")


def _splice(doc_path: Path, text: str) -> None:
    """Replace what lies between the START and END markers of a results page (if it has them)."""
    if doc_path.is_file() and START in doc_path.read_text():
        pre, rest = doc_path.read_text().split(START, 1)
        post = rest.split(END, 1)[1] if END in rest else ""
        doc_path.write_text(pre + START + "\n" + text + END + post)


def factorial_report() -> None:
    from medtrain.reports.curves import best_cell, collect, marginal_markdown, overlay_curves, study_csv, study_markdown

    cells = []
    for es_dir in sorted(FACTORIAL.glob("early_stop=*")):
        for c in collect(es_dir):
            c["cell"] = {"early_stop": es_dir.name.split("=", 1)[1], **c["cell"]}
            cells.append(c)
    if not cells:
        raise SystemExit(f"no finished runs under {FACTORIAL}")
    runs = [r for c in cells for r in c["runs"]]
    devices = sorted({r.get("device", "cpu") for r in runs})
    keys = ["technique", "early_stop", "weight_decay", "batch_norm"]
    parts = [f"{len(runs)} runs in {len(cells)} cells; device: {', '.join(devices)}.\n\n"]
    for key in keys:
        parts += [f"#### Main effect of {key} (every run with that value pooled)\n\n",
                  marginal_markdown(cells, key), "\n"]
    parts += ["#### Every cell (mean ± std over seeds)\n\n", study_markdown(cells, keys), "\n"]
    mc = sorted((FACTORIAL / "mc").glob("*/metrics.json"))
    if mc:
        parts += ["#### MC dropout at test time (`--mc-dropout 20`, seed 0, lambda = 1e-4, BN on, no early stopping)\n\n",
                  "| technique | test ACC | test AUC | error, 10% most uncertain (entropy) | error, the rest | error, all |\n",
                  "|---|---|---|---|---|---|\n"]
        for m in mc:
            r = json.loads(m.read_text())
            u = r["test"].get("mc_dropout", {})
            parts.append(f"| {m.parent.name} | {r['test']['acc']:.3f} | {r['test']['auc']:.3f} | "
                         f"{u['error_uncertain']:.3f} ({u['n_uncertain']} images) | {u['error_rest']:.3f} "
                         f"({u['n_rest']}) | {u['error_all']:.3f} |\n")
        parts.append("\n")
    # Figure: no regularisation at all (no dropout, lambda = 0, no BN, full 15 epochs) against the
    # full-length cell with the best mean val AUC, early-stopping points (patience 5) replayed on both.
    full = [c for c in cells if c["cell"]["early_stop"] == "none"]
    plain = [c for c in full if c["group"] == "none" and c["cell"]["weight_decay"] == "0"
             and c["cell"]["batch_norm"] == "false"]
    best = best_cell(full)
    if plain and best:
        info = overlay_curves(plain[0], best, FACTORIAL_FIG, replay_patience=5,
                              title="BreastMNIST, resnet10_28_half, 15 epochs: no regularisation vs the best "
                                    "combination (mean val AUC)")
        parts += [f"Figure `{FACTORIAL_FIG.name}`: `{json.dumps(info)}`\n\n"]
    text = "".join(parts)
    FACTORIAL.mkdir(parents=True, exist_ok=True)
    (FACTORIAL / "study.csv").write_text(study_csv(cells, keys))
    FACTORIAL_DOC.with_suffix(".csv").write_text(study_csv(cells, keys))
    _splice(FACTORIAL_DOC, text)
    print(text)


def _run(cmd: list[str]) -> None:
    print("+", " ".join(shlex.quote(c) for c in cmd), flush=True)
    env = {**os.environ, "MEDTRAIN_DATA": os.environ.get("MEDTRAIN_DATA", "/work/shared/data")}
    subprocess.run(cmd, check=True, cwd=ROOT, env=env)


def _link_shared_cell(technique: str, seeds: int) -> None:
    """The crossing's (lambda=1e-4, BN on) cell has exactly the main table's settings: reuse those runs."""
    for s in range(seeds):
        src = OUT / "main" / technique / f"early_stop={CROSS_ES}" / f"seed{s}"
        dst = OUT / "cross" / technique / "weight_decay=1e-4,batch_norm=true" / f"seed{s}"
        if (src / "metrics.json").is_file() and not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src.resolve(), target_is_directory=True)


def best_technique() -> str:
    from medtrain.reports.curves import best_cell, collect

    cells = collect(OUT / "main")
    return best_cell(cells, lambda c: c["group"] in TECHNIQUES)["group"]


def replay_section(main: list) -> list:
    """Early stopping (patience 5) replayed on every full-length run, checked against real ES runs."""
    from medtrain.reports.curves import replay_early_stop

    full = {(c["group"], i): (r, d) for c in main if c["cell"].get("early_stop") == "none"
            for i, (r, d) in enumerate(zip(c["runs"], c["dirs"]))}
    real = {(c["group"], int(d.name[4:])): r for c in main if c["cell"].get("early_stop") == "val_auc"
            for r, d in zip(c["runs"], c["dirs"])}
    if not full:
        return []
    lines = ["### Early stopping replayed on the full-length runs (not a medtrain table)\n\n",
             "Computed by `medtrain.reports.curves.replay_early_stop` from each `early_stop=none` run's history "
             "(patience 5 on val AUC, Lightning's rule): where early stopping would have cut that curve. Where the "
             "real `early_stop=val_auc` run with the same seed exists, its stop/selected epochs and the largest "
             "difference between its per-epoch val loss and the full run's are shown: a non-zero difference "
             "means the two same-seed runs did not follow the same trajectory.\n\n",
             "| technique | seed | full run: selected epoch (val AUC) | replay: stop epoch | replay: selected epoch "
             "| real ES run: stop / selected epoch | max abs val-loss diff (common epochs) |\n",
             "|---|---|---|---|---|---|---|\n"]
    for (g, _), (r, d) in sorted(full.items()):
        seed = int(d.name[4:])
        h = r["history"]
        rep = replay_early_stop(h, patience=5)
        sel = next(e for e in h if e["epoch"] == r["best_epoch"])
        es = real.get((g, seed))
        if es:
            common = min(len(es["history"]), len(h))
            diff = max(abs(a["val_loss"] - b["val_loss"]) for a, b in zip(es["history"][:common], h[:common]))
            es_txt, diff_txt = f"{es['stop_epoch'] + 1} / {es['best_epoch'] + 1}", f"{diff:.2e}"
        else:
            es_txt = diff_txt = "not run"
        stop_txt = f"{rep['stop_epoch'] + 1}" + ("" if rep["stopped"] else " (no stop)")
        lines.append(f"| {g} | {seed} | {r['best_epoch'] + 1} ({sel['val_auc']:.3f}) | {stop_txt} | "
                     f"{rep['best_epoch'] + 1} | {es_txt} | {diff_txt} |\n")
    return lines + ["\n"]


def reeval() -> None:
    """``medtrain eval`` (saved best weights, eval mode) on val and test for every finished run.

    Writes ``eval_val.json`` / ``eval_test.json`` next to each ``metrics.json``; the report shows these
    next to the numbers ``train`` recorded (see "Issues found" in docs/results/regularization.md).
    """
    import medtrain

    for m in sorted(OUT.glob("*/*/*/seed*/metrics.json")) + sorted(OUT.glob("mc/*/metrics.json")):
        for split in ("val", "test"):
            if not (m.parent / f"eval_{split}.json").is_file():
                medtrain.evaluate(m.parent, split=split, verbose=False)
        print("re-evaluated", m.parent, flush=True)


def report() -> None:
    from medtrain.reports.curves import best_cell, collect, overlay_curves, study_csv, study_markdown

    main = collect(OUT / "main")
    cross = collect(OUT / "cross")
    parts = ["### (1) Techniques (lambda = 1e-4, batch norm on), with and without early stopping\n\n",
             study_markdown(main, ["technique", "early_stop"]), "\n"]
    if cross:
        parts += [f"### (2) Weight decay x batch norm (early stopping on {CROSS_ES})\n\n",
                  study_markdown(cross, ["technique", "weight_decay", "batch_norm"]), "\n"]
    parts += replay_section(main)
    mc = sorted((OUT / "mc").glob("*/metrics.json"))
    for m in mc:
        r = json.loads(m.read_text())
        u = r["test"].get("mc_dropout", {})
        parts += [f"### MC dropout ({m.parent.name}, seed {r['seed']}, T = {u.get('passes')})\n\n",
                  f"test ACC {r['test']['acc']:.3f}, AUC {r['test']['auc']:.3f}; "
                  f"`mc_dropout` = `{json.dumps(u)}`\n\n"]
    text = "".join(parts)
    (OUT / "study.md").write_text(text)
    _splice(DOC, text)
    (OUT / "study.csv").write_text(study_csv(main + cross, ["technique", "early_stop", "weight_decay",
                                                             "batch_norm"]))
    print("".join(parts))
    # Figure: the full-length (early_stop=none) runs of "none" and of the technique with the best mean val
    # AUC, so the curves go on past the point where early stopping stops; that point is marked (replayed).
    full = [c for c in main if c["cell"].get("early_stop") == "none"]
    plain = [c for c in full if c["group"] == "none"]
    best = best_cell(full, lambda c: c["group"] != "none")
    if plain and best:
        info = overlay_curves(plain[0], best, DOC_FIG, replay_patience=5,
                              title=f"BreastMNIST, resnet10_28_half: no dropout vs {best['group']} "
                                    f"(best mean val AUC), lambda=1e-4, BN on, all 15 epochs")
        print("figure:", DOC_FIG, json.dumps(info))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("commands")
    m = sub.add_parser("main")
    m.add_argument("--es", default="none,val_auc", help="early_stop values: none, val_auc or both")
    m.add_argument("--seeds", type=int, default=3)
    m.add_argument("--techniques", default=",".join(TECHNIQUES))
    c = sub.add_parser("cross")
    c.add_argument("--technique", required=True)
    c.add_argument("--seeds", type=int, default=3)
    sub.add_parser("best")
    mc = sub.add_parser("mc")
    mc.add_argument("--technique", required=True)
    f = sub.add_parser("factorial")
    f.add_argument("--accelerator", default="cpu")
    f.add_argument("--jobs", type=int, default=1)
    f.add_argument("--seeds", type=int, default=3)
    f.add_argument("--techniques", default=",".join(TECHNIQUES))
    f.add_argument("--mc", action="store_true", help="also one --mc-dropout 20 run per dropout technique")
    sub.add_parser("factorial-report")
    sub.add_parser("reeval")
    sub.add_parser("report")
    a = ap.parse_args(argv)
    if a.cmd == "commands":
        for s in (1, 2, 3):
            for t in TECHNIQUES:
                print(" ".join(shlex.quote(x) for x in main_cmd(t, "none,val_auc", s)))
        for t in ("none", "BEST"):
            print(" ".join(shlex.quote(x) for x in cross_cmd("none", 3)).replace("none", t, 1) if t == "BEST"
                  else " ".join(shlex.quote(x) for x in cross_cmd(t, 3)))
    elif a.cmd == "main":
        for s in range(1, a.seeds + 1):  # seed-major: every technique gets seed 0 before any gets seed 1
            for t in a.techniques.split(","):
                _run(main_cmd(t, a.es, s))
    elif a.cmd == "best":
        print(best_technique())
    elif a.cmd == "cross":
        t = best_technique() if a.technique == "best" else a.technique
        for s in range(1, a.seeds + 1):
            _link_shared_cell(t, s)
            _run(cross_cmd(t, s))
    elif a.cmd == "mc":
        t = best_technique() if a.technique == "best" else a.technique
        _run(mc_cmd(t))
    elif a.cmd == "factorial":
        cmds = [factorial_cmd(t, es, a.seeds, a.accelerator) for t in a.techniques.split(",")
                for es in ("none", "val_auc")]
        if a.mc:
            cmds += [mc_cmd(t, a.accelerator, FACTORIAL / "mc" / t) for t in a.techniques.split(",") if t != "none"]
        _run_parallel(cmds, a.jobs)
    elif a.cmd == "factorial-report":
        factorial_report()
    elif a.cmd == "reeval":
        reeval()
    else:
        report()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
