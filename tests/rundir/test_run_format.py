"""Every run records the run format of the medtrain that started it (``medtrain.rundir.RUN_FORMAT``); resume, eval,
the same command given again and compare read it. A run folder without it (format 0) is made here from a tiny run
trained now, by removing what it records, as a medtrain from before the run format wrote its runs (an upgrade
walkthrough: a pre-2026-12-03 run resumed kept its last epoch where its own version kept the best, test AUC 0.731
against 0.768; an old MC-dropout run evaluated to other numbers without a word; the same command given again
called a changed default the user's change; compare mixed old and new cells without saying so)."""
import json
import shutil

import pytest
import yaml
from safetensors.torch import load_file, save_file

import medtrain
from medtrain import config as config_mod
from medtrain.compare import compare
from medtrain.models.factory import default_model
from medtrain.models.weights import read_meta
from medtrain.rundir import FORMAT_KEY, RUN_FORMAT, run_format
from medtrain.training.build import resolve_auto
from medtrain.errors import TrainingInterrupted
from conftest import InterruptAt, fast_config, make_npz, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def data(tmp_path):
    return make_npz(tmp_path / "tiny.npz", sizes=(64, 16, 16))


def _json(path, edit):
    record = json.loads(path.read_text())
    edit(record)
    path.write_text(json.dumps(record))


def as_format_0(run, provenance=True):
    """``run`` as a medtrain from before the run format left it: no format in choices.json, metrics.json (its
    ``provenance`` kept, as since 2026-12-05, or gone with ``provenance=False``) or model.safetensors."""
    _json(run / "choices.json", lambda c: c.pop(FORMAT_KEY))
    if (run / "metrics.json").is_file():
        _json(run / "metrics.json", lambda m: m["provenance"].pop(FORMAT_KEY) if provenance else m.pop("provenance"))
    if (run / "model.safetensors").is_file():
        meta = read_meta(run / "model.safetensors")
        meta.pop(FORMAT_KEY)
        state = load_file(run / "model.safetensors")
        save_file(state, run / "model.safetensors", metadata={k: json.dumps(v) for k, v in meta.items()})
    assert run_format(run) == 0


def test_a_run_records_its_format_where_resume_eval_and_compare_read_it_and_its_config_stays_usable(data, tmp_path):
    run = tmp_path / "run"
    m = medtrain.train(fast_config(data, run, epochs=1, bootstrap=0), verbose=False)
    assert RUN_FORMAT >= 1 and m["provenance"][FORMAT_KEY] == RUN_FORMAT
    assert json.loads((run / "choices.json").read_text())[FORMAT_KEY] == RUN_FORMAT  # before metrics.json exists
    assert read_meta(run / "model.safetensors")[FORMAT_KEY] == RUN_FORMAT  # a model handed on without its metrics
    assert run_format(run) == RUN_FORMAT
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert FORMAT_KEY not in saved  # `train --config RUN/config.yaml` takes every key of it as a setting
    assert config_mod.resolve(config_mod.load_yaml(run / "config.yaml")).model == "resnet10_28_half"


def test_resuming_a_run_from_before_the_checkpoint_rule_keeps_its_own_rule_best(data, tmp_path, capsys):
    kw = dict(model=default_model(2), schedule="onecycle", epochs=3, bootstrap=0)
    # today's auto keeps the last epoch for this recipe; a run started before 2026-12-03 kept the best
    assert resolve_auto(config_mod.resolve(fast_config(data, tmp_path, **kw)), 2).checkpoint == "last"
    cut = tmp_path / "cut"
    with pytest.raises(TrainingInterrupted, match="--resume"):
        medtrain.train(fast_config(data, cut, **kw), verbose=False, callbacks=[InterruptAt(2)])
    saved = yaml.safe_load((cut / "config.yaml").read_text())
    del saved["checkpoint"]  # what config.yaml held before 2026-12-03
    (cut / "config.yaml").write_text(yaml.safe_dump(saved))
    as_format_0(cut)
    shutil.copytree(cut, tmp_path / "pinned")

    m = medtrain.train({"progress": False}, resume=cut, verbose=False)
    assert m["checkpoint"] == "best"
    assert m["best_epoch"] == max(m["history"], key=lambda h: h["val_auc"])["epoch"]
    assert m["provenance"][FORMAT_KEY] == 0  # started by the older medtrain: still format 0
    # --checkpoint best is the run's own rule, not a change (it had been refused as one from auto)
    code, _, err = run_cli(capsys, "train", "--resume", tmp_path / "pinned", "--checkpoint", "best", "--no-progress")
    assert code == 0, err
    assert json.loads((tmp_path / "pinned" / "metrics.json").read_text())["best_epoch"] == m["best_epoch"]


def test_eval_of_a_format_0_mc_dropout_run_says_its_numbers_can_differ(data, tmp_path, capsys):
    run = tmp_path / "run"
    medtrain.train(fast_config(data, run, epochs=1, bootstrap=0, dropout=0.2, mc_dropout=2, tta="none"),
                   verbose=False)
    code, _, err = run_cli(capsys, "eval", run)
    assert code == 0 and "MC-dropout" not in err  # format 1: masks per image, as today
    old = tmp_path / "old"
    shutil.copytree(run, old)
    as_format_0(old, provenance=False)  # before 2026-12-05: no provenance, masks drawn per batch until 2026-12-04
    code, out, err = run_cli(capsys, "eval", old)
    assert code == 0, err
    notes = [line for line in err.splitlines() if "MC-dropout" in line]
    assert len(notes) == 1
    assert "run format 0" in notes[0] and "metrics.json" in notes[0] and "differ" in notes[0]
    # one whose metrics.json has provenance (after 2026-12-05) drew its masks per image: no note
    mid = tmp_path / "mid"
    shutil.copytree(run, mid)
    as_format_0(mid)
    assert run_cli(capsys, "eval", mid)[0] == 0 and "MC-dropout" not in capsys.readouterr().err


TRAIN = ["train", "--model", "resnet10_28_half", "--epochs", 1, "--batch-size", 32, "--bootstrap", 0,
         "--schedule", "none", "--accelerator", "cpu", "--flip", "true", "--no-progress"]


def test_the_same_command_on_a_format_0_run_names_a_changed_default_as_one(data, tmp_path, capsys):
    run, new = tmp_path / "old", tmp_path / "new"
    # the old run recorded precision 32-true, the default then; today's default is auto
    assert run_cli(capsys, *TRAIN, "--data", data, "--precision", "32-true", "--out", run)[0] == 0
    shutil.copytree(run, new)
    as_format_0(run)
    code, out, err = run_cli(capsys, *TRAIN, "--data", data, "--out", run)
    assert code == 0, err
    assert "already finished" in out
    assert "a default changed since this run was written" in err and "precision: '32-true' then, 'auto' now" in err
    # a run of today's format recording 32-true was given it: the command without it is another setting
    code, _, err = run_cli(capsys, *TRAIN, "--data", data, "--out", new)
    assert code == 2 and "other settings (precision: '32-true', now 'auto')" in err


def test_compare_names_the_run_format_of_each_cell_where_they_differ(data, tmp_path):
    base = {k: v for k, v in fast_config(data, tmp_path, epochs=1, bootstrap=0).items() if k != "out"}
    out = tmp_path / "cmp"
    compare(base, {"dropout": ["0", "0.2"]}, [0], out, verbose=False)
    assert "format" not in (out / "summary.md").read_text()  # one format: nothing to say
    as_format_0(out / "dropout=0" / "seed0")
    compare(base, {"dropout": ["0", "0.2"]}, [0], out, verbose=False)
    summary = (out / "summary.md").read_text()
    assert f"Run formats differ: dropout=0: 0; dropout=0.2: {RUN_FORMAT}" in summary
    assert "before the run format was recorded" in summary and "not one recipe" in summary
    assert "Run formats differ" in (out / "report.html").read_text()


def test_resuming_a_run_from_before_the_flip_choice_keeps_its_flips_without_pilots(data, tmp_path):
    kw = dict(epochs=3, bootstrap=0, flip="auto")
    cut = tmp_path / "cut"
    with pytest.raises(TrainingInterrupted, match="--resume"):
        medtrain.train(fast_config(data, cut, **kw), verbose=False, callbacks=[InterruptAt(2)])
    saved = yaml.safe_load((cut / "config.yaml").read_text())
    assert saved["flip"] == "auto" and "flip" in saved["augment"]
    del saved["flip"]  # what config.yaml held before the flip choice, which always trained with its flips
    (cut / "config.yaml").write_text(yaml.safe_dump(saved))
    (cut / "choices.json").unlink()
    m = medtrain.train({"progress": False}, resume=cut, verbose=False)
    # its own rule: flips on, decided by nothing (today's auto would have run the pilots and could drop them)
    assert m["choices"]["flip"]["chosen"] is True and m["choices"]["flip"]["how"].startswith("pinned")
    # its command given again, without --flip: the run, finished (flips were that medtrain's default, not a change)
    again = fast_config(data, cut, **kw)
    del again["flip"]
    assert medtrain.train(again, verbose=False) == m
