"""``compare --vary config=A.yaml,B.yaml``: whole recipes (YAML files as ``train --config`` reads them) compared
over seeds with compare's cells, resume, grid.json and paired summary; and the note under a comparison whose
runs were not all made by the same medtrain. A walkthrough found neither: two recipes differing in 12 settings
had no command (``--vary config=...`` was "unknown setting 'config'"), and its 4 cells, run on 3 commits of an
edited checkout, were summarised as one grid without a word."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

import medtrain.compare as compare_mod
from medtrain import config as config_mod
from medtrain.cli import main
from medtrain.errors import MedtrainError
from medtrain.rundir import load_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import make_npz  # noqa: E402

FAST = ["--epochs", "1", "--batch-size", "32", "--no-progress", "--bootstrap", "0", "--accelerator", "cpu",
        "--flip", "true", "--precision", "32-true", "--class-weights", "false", "--tta", "none"]
A = "model: resnet10_28_half\noptimizer: adam\nlr: 1e-3\nschedule: none\n"
B = "model: resnet10_28_half\noptimizer: sgd\nlr: 0.05\nschedule: none\ndropout: 0.25\nlabel_smoothing: 0.1\n"


def _files(tmp_path) -> list[Path]:
    (tmp_path / "a.yaml").write_text(A)
    (tmp_path / "b.yaml").write_text(B)
    return [tmp_path / "a.yaml", tmp_path / "b.yaml"]


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_recipe_files_over_two_seeds_train_four_cells_of_their_settings_and_pair_them(tmp_path, capsys):
    a, b = _files(tmp_path)
    out = tmp_path / "cmp"
    argv = ["compare", "--data", str(make_npz(tmp_path / "tiny.npz", sizes=(32, 16, 16))), *FAST, "--seeds", "2",
            "--vary", f"config={a},{b}", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    runs = sorted(str(p.relative_to(out)) for p in out.glob("*/seed*"))
    assert runs == ["config=a/seed0", "config=a/seed1", "config=b/seed0", "config=b/seed1"]
    for name, path in (("a", a), ("b", b)):  # each cell's run holds its file's settings, and the seed of --seeds
        given = config_mod.load_yaml(path)
        for seed in (0, 1):
            cfg = load_config(out / f"config={name}" / f"seed{seed}")
            assert {k: getattr(cfg, k) for k in given} == {k: config_mod.coerce(k, v) for k, v in given.items()}
            assert cfg.seed == seed and cfg.epochs == 1  # and the command's flags
    with open(out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["config"] for r in rows] == ["a", "b"] and rows[1]["pairs"] == "2" and rows[1]["d_test_auc"] != ""
    md = (out / "summary.md").read_text()
    assert f"Recipes (--vary config): a = {a}, b = {b}." in md and "| a | 2 |" in md and "| b | 2 |" in md
    assert f"a = {a}" in printed
    record = json.loads((out / "grid.json").read_text())
    assert record["grid"] == {"config": ["a", "b"]}
    assert record["recipes"]["b"]["settings"]["dropout"] == 0.25 and len(record["recipes"]["b"]["sha256"]) == 64
    assert "dropout" not in record["base"]  # a recipe's setting is its cells', not the grid's base
    assert set(record["runs_code"]) == {"config=a/seed0", "config=a/seed1", "config=b/seed0", "config=b/seed1"}

    # the same command again: every cell finished, read, none trained
    assert main(argv) == 0
    assert capsys.readouterr().out.count("finished, skipped") == 4
    # a comment is no other recipe; an edited setting is refused, naming the recipe, nothing written
    b.write_text("# the sgd recipe\n" + B)
    assert main(argv) == 0
    capsys.readouterr()
    b.write_text(B.replace("lr: 0.05", "lr: 0.1"))
    before = _tree(out)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "recipe b" in err and "lr: 0.05, now 0.1" in err
    assert _tree(out) == before


def _fake(provenance=lambda cfg: {}):
    def run(cfg):
        auc = 0.8 + 0.1 * float(cfg.dropout) + 0.01 * cfg.seed
        return {"seed": cfg.seed, "test": {"auc": auc, "acc": 0.7}, "val": {"auc": auc}, "best_epoch": 0,
                "stop_epoch": 1, "wall_s": 1.0, "provenance": provenance(cfg)}
    return run


def test_recipes_are_a_product_with_other_axes_under_the_flags_as_train_config_reads_them(tmp_path, monkeypatch):
    seen = {}

    def run(cfg):
        seen[Path(cfg.out).parent.name] = cfg
        return _fake()(cfg)

    monkeypatch.setattr(compare_mod, "train_or_reuse", run)
    monkeypatch.setattr(compare_mod, "_check_augment_on_data", lambda cfgs: None)  # no data here
    a, b = _files(tmp_path)
    rows = compare_mod.compare({"data": "x.npz", "lr": 0.02}, {"config": [a, b], "dropout": "0,0.1"}, [0],
                               tmp_path / "cmp", verbose=False)
    assert [(r["config"], r["dropout"]) for r in rows] == [("a", "0"), ("a", "0.1"), ("b", "0"), ("b", "0.1")]
    assert sorted(seen) == ["config=a,dropout=0", "config=a,dropout=0.1", "config=b,dropout=0", "config=b,dropout=0.1"]
    cell = seen["config=b,dropout=0.1"]
    # the file's settings, the flag's lr over the file's (as train's flags override --config), the axis's dropout
    assert (cell.optimizer, cell.label_smoothing, cell.lr, cell.dropout) == ("sgd", 0.1, 0.02, 0.1)
    assert (seen["config=a,dropout=0"].optimizer, seen["config=a,dropout=0"].lr) == ("adam", 0.02)
    md = (tmp_path / "cmp" / "summary.md").read_text()
    assert "The command's settings replace theirs: a's lr 0.001 (by --lr); b's lr 0.05 (by --lr), dropout 0.25 " \
           "(by --vary)." in md


@pytest.mark.parametrize("files, extra, message", [
    ({"a.yaml": A}, ["missing.yaml"], "recipe file not found: {tmp}/missing.yaml"),
    ({"a.yaml": A, "bad.yaml": "lr: [0.1\n"}, [], "recipe file {tmp}/bad.yaml is not valid YAML"),
    ({"a.yaml": A, "s.yaml": A + "seed: 3\n"}, [], "recipe file {tmp}/s.yaml sets seed: --seeds sets it"),
    ({"a.yaml": A, "o.yaml": A + "out: runs/x\n"}, [], "recipe file {tmp}/o.yaml sets out: --out sets it"),
    ({"a.yaml": A, "k.yaml": A + "dropuot: 0.1\n"}, [], "recipe file {tmp}/k.yaml: unknown setting 'dropuot'; "
                                                        "did you mean dropout"),
    ({"a.yaml": A, "r.yaml": A + "learning_rate: 0.1\n"}, [], "recipe file {tmp}/r.yaml: unknown setting "
                                                             "'learning_rate'; did you mean lr?"),  # an alias too
    ({"a.yaml": A, "v.yaml": A + "dropout: lots\n"}, [], "recipe file {tmp}/v.yaml: dropout: cannot read"),
    ({"a.yaml": A, "l.yaml": "- lr\n"}, [], "recipe file {tmp}/l.yaml must hold a mapping of settings"),
    ({"a.yaml": A, "sub/a.yaml": B}, [], "recipe files {tmp}/a.yaml and {tmp}/sub/a.yaml share the name 'a'"),
    ({"a.yaml": A, "w.yaml": "dropout: 1.5\n"}, [], "config=w ({tmp}/w.yaml): dropout"),
])
def test_a_bad_recipe_file_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, files, extra, message):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    paths = [str(tmp_path / n) for n in files] + [str(tmp_path / e) for e in extra]
    out = tmp_path / "cmp"
    assert main(["compare", "--data", "x.npz", "--vary", "config=" + ",".join(paths), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("medtrain: error: " + message.format(tmp=tmp_path))
    assert not out.exists()


def test_a_config_file_beside_recipe_files_is_refused(tmp_path, capsys):
    a, b = _files(tmp_path)
    out = tmp_path / "cmp"
    assert main(["compare", "--config", str(a), "--data", "x.npz", "--vary", f"config={a},{b}", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"medtrain: error: --config {a} beside --vary config=...") and not out.exists()


def test_recipes_given_in_python_as_one_string_or_paths_are_one_grid(tmp_path, monkeypatch):
    monkeypatch.setattr(compare_mod, "train_or_reuse", _fake())
    monkeypatch.setattr(compare_mod, "_check_augment_on_data", lambda cfgs: None)
    a, b = _files(tmp_path)
    first = compare_mod.compare({"data": "x.npz"}, {"config": f"{a},{b}"}, [0, 1], tmp_path / "cmp", verbose=False)
    again = compare_mod.compare({"data": "x.npz"}, {"config": [a, b]}, [0, 1], tmp_path / "cmp", verbose=False)
    assert [r["config"] for r in first] == ["a", "b"] and again == first
    assert first[1]["paired"]["pairs"] == 2
    with pytest.raises(MedtrainError, match="grid config: each value is a recipe's YAML file, a path; got int"):
        compare_mod.compare({"data": "x.npz"}, {"config": [a, 3]}, [0], tmp_path / "cmp2", verbose=False)


def _provenance(version="0.3.0", commit="a" * 40, modified=True):
    return {"medtrain": version, "medtrain_git": {"commit": commit, "modified": modified}, "run_format": 1}


@pytest.mark.parametrize("other, shown", [
    (_provenance(commit="b" * 40), "medtrain 0.3.0 at commit bbbbbbbb with local changes"),
    (_provenance(version="0.4.0"), "medtrain 0.4.0 at commit aaaaaaaa with local changes"),
    (_provenance(modified=False), "medtrain 0.3.0 at commit aaaaaaaa unmodified."),
])
def test_a_comparison_says_which_cells_other_medtrain_code_ran(tmp_path, monkeypatch, capsys, other, shown):
    """The walkthrough's cells ran on 3 commits of an edited checkout, all 'medtrain 0.3.0', summarised unsaid."""
    monkeypatch.setattr(compare_mod, "train_or_reuse", _fake(
        lambda cfg: other if (cfg.dropout, cfg.seed) == (0.5, 1) else _provenance()))
    monkeypatch.setattr(compare_mod, "_check_augment_on_data", lambda cfgs: None)
    out = tmp_path / "cmp"
    compare_mod.compare({"data": "x.npz", "progress": False}, {"dropout": ["0", "0.5"]}, [0, 1], out)
    note = ("Not all runs were made by the same medtrain: 3 of 4 by medtrain 0.3.0 at commit aaaaaaaa with local "
            f"changes; other code in dropout=0.5 (seed 1): {shown}")
    assert note in (out / "summary.md").read_text() and note in capsys.readouterr().out
    assert note in (out / "report.html").read_text().replace("&#39;", "'")
    assert "% medtrain compare: " + note in (out / "summary.tex").read_text()
    record = json.loads((out / "grid.json").read_text())
    assert record["code_note"].startswith(note)
    assert record["runs_code"]["dropout=0.5/seed1"] == {"version": other["medtrain"], **other["medtrain_git"]}
    assert record["runs_code"]["dropout=0/seed0"] == {"version": "0.3.0", "commit": "a" * 40, "modified": True}


def test_a_comparison_all_of_one_medtrain_has_no_code_note(tmp_path, monkeypatch):
    monkeypatch.setattr(compare_mod, "train_or_reuse", _fake(lambda cfg: _provenance()))
    monkeypatch.setattr(compare_mod, "_check_augment_on_data", lambda cfgs: None)
    compare_mod.compare({"data": "x.npz"}, {"dropout": ["0", "0.5"]}, [0, 1], tmp_path, verbose=False)
    assert "Not all runs" not in (tmp_path / "summary.md").read_text()
    assert "code_note" not in json.loads((tmp_path / "grid.json").read_text())
