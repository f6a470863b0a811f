"""A search space whose values of ``flip``, ``tta``, ``augment`` and ``transfer`` combine into what train's rule of a
flipping TTA refuses (:func:`medtrain.config.flips.check_tta_flips_trained`: ``flip: auto``, a TTA that flips, no
flip in the augmentation) is refused before any trial, naming the combination. Each value had been checked alone
with the base: ``augment: ['flip,shift', none]`` with ``tta: [none, hflip]`` passed, each trial decided its own flips,
and the trial that drew none with hflip was refused inside train, which stopped the whole search (study.db and
trials/ left, exit 2 after 2 trials). A rerun of a study whose space holds such a pair is refused alike: every trial
that draws it would be refused by train."""
from __future__ import annotations

import optuna
import pytest

import medtrain.api
import medtrain.tune.flips
from conftest import run_cli
from medtrain import config as config_mod
from medtrain.errors import MedtrainError
from medtrain.training import choices
from medtrain.tune import tune
from medtrain.tune.study import default_storage

LR = {"lr": {"low": 1e-3, "high": 3e-2, "log": True}}
RULE = ("--tta hflip flips the test images, but --augment none has no flip: the network would be scored on flipped "
        "images it never saw; add flip to --augment, give --tta none or shift, or --flip true to flip the test "
        "images anyway")
PAIR = f"search space augment 'none' with tta 'hflip' is refused by train ({RULE})"


def fast(data, **over) -> dict:
    return {"data": str(data), "model": "resnet10_28_half", "epochs": 1, "batch_size": 32, "schedule": "none",
            "accelerator": "cpu", "bootstrap": 20, "logger": "none", **over}


@pytest.fixture
def trained(monkeypatch):
    """The configs trials were handed (no training: each scores its lr), pilots failing the test."""
    calls = []

    def train(cfg, resume=None, verbose=True, callbacks=None, evaluate_test=True, idle_settings=False):
        calls.append(cfg)
        return {"best_epoch": 0, "history": [], "val": {"auc": cfg.lr}, "test": {}}

    monkeypatch.setattr(medtrain.api, "train", train)
    monkeypatch.setattr(medtrain.tune.flips, "fit", lambda *a, **k: pytest.fail("a flip pilot trained"))
    return calls


def test_a_pair_of_searched_values_train_refuses_is_refused_before_any_trial(tiny_npz, tmp_path, trained):
    out = tmp_path / "tune"
    space = {**LR, "augment": ["flip,shift", "none"], "tta": ["none", "hflip"]}
    with pytest.raises(MedtrainError) as refused:
        tune(fast(tiny_npz), space, out, trials=4, log=lambda line: None)
    assert str(refused.value) == PAIR
    assert trained == [] and not out.exists()  # no trial, no study.db, no trials/ left
    # the refused pair is what train refuses (its rule, asked of every run, a config file's too)
    with pytest.raises(MedtrainError, match="^" + RULE.replace("(", r"\(").replace(")", r"\)") + "$"):
        choices.tta_keeps_flips(config_mod.resolve(fast(tiny_npz), {"augment": "none", "tta": "hflip"}), {})


def test_the_cli_says_it_in_one_line_and_leaves_nothing(tiny_npz, tmp_path, capsys, trained):
    out, space = tmp_path / "tune", tmp_path / "space.yaml"
    space.write_text("augment: ['flip,shift', none]\ntta: [none, hflip]\n")
    code, stdout, err = run_cli(capsys, "tune", "--data", tiny_npz, "--model", "resnet10_28_half", "--epochs", 1,
                                "--accelerator", "cpu", "--space", space, "--trials", 4, "--out", out)
    assert (code, stdout, err.splitlines()) == (2, "", [f"medtrain: error: {PAIR}"])
    assert trained == [] and not out.exists()


def test_the_fewest_values_that_conflict_are_named(tiny_npz, tmp_path, trained):
    # flip true in the base: each value alone, and each pair, is accepted; flip auto, shift and hflip together not
    space = {**LR, "flip": ["true", "auto"], "augment": ["flip,shift", "shift"], "tta": ["none", "hflip"]}
    with pytest.raises(MedtrainError) as refused:
        tune(fast(tiny_npz, flip="true", tta="none"), space, tmp_path / "tune", trials=4, log=lambda line: None)
    assert str(refused.value).startswith("search space flip 'auto' with augment 'shift' and tta 'hflip' is refused "
                                         "by train (--tta hflip flips the test images, but --augment shift has no "
                                         "flip"), refused.value
    assert trained == [] and not (tmp_path / "tune").exists()


def test_a_rerun_of_a_study_whose_space_holds_the_pair_is_refused_alike(tiny_npz, tmp_path, trained):
    out = tmp_path / "tune"
    out.mkdir()
    optuna.create_study(study_name="tune", storage=default_storage(out), direction="maximize")  # an earlier run's
    space = {**LR, "augment": ["flip,shift", "none"], "tta": ["none", "hflip"]}
    with pytest.raises(MedtrainError) as refused:
        tune(fast(tiny_npz), space, out, trials=4, log=lambda line: None)
    assert str(refused.value) == f"{PAIR}; {kept(out)}" and trained == []
    assert sorted(p.name for p in out.iterdir()) == ["study.db"]  # no trials folder


def kept(out) -> str:
    """What a refusal of a study's rerun adds: the way out that works (its settings cannot change)."""
    return (f"study 'tune' in {default_storage(out)} keeps the settings it was started with: search with others "
            "under another --out or --study-name")


def test_a_rerun_of_an_old_study_reads_it_where_no_trial_is_left_and_is_refused_where_one_is(tiny_npz, tmp_path,
                                                                                             trained, monkeypatch):
    out = tmp_path / "tune"
    space = {**LR, "augment": ["flip,shift", "none"], "tta": ["none", "hflip"]}
    with monkeypatch.context() as older:  # a medtrain before the pair was refused ran 3 trials
        older.setattr(config_mod.flips, "check_tta_flips_trained", lambda cfg: None)
        tune(fast(tiny_npz), space, out, trials=3, log=lambda line: None)
    assert len(trained) == 3
    # --trials reached: no trial trains, the study is read and reported (it had been refused)
    best = tune(fast(tiny_npz), space, out, trials=3, log=lambda line: None)
    assert len(trained) == 3 and (out / "best.json").is_file() and best["run_dir"]
    with pytest.raises(MedtrainError) as refused:  # a trial left to train: refused, naming what works
        tune(fast(tiny_npz), space, out, trials=4, log=lambda line: None)
    assert str(refused.value) == f"{PAIR}; {kept(out)}" and len(trained) == 3


def test_pairs_train_accepts_are_searched(tiny_npz, tmp_path, trained):
    # every augmentation flips the axis hflip flips: each trial decides its own flips, as train does
    space = {**LR, "augment": ["flip,shift", "flip"], "tta": ["none", "hflip"]}
    tune(fast(tiny_npz), space, tmp_path / "tune", trials=3, log=lambda line: None)
    assert len(trained) == 3 and {c.flip for c in trained} == {"auto"}


def test_a_base_value_no_trial_trains_with_is_not_refused(tiny_npz, tmp_path, trained):
    # --tta flip with the default augment flip,shift is refused alone, but every trial draws an augment of the space,
    # each flipping up-down too (flip,rot90: a half-turn after a left-right flip)
    space = {**LR, "augment": ["flip,vflip,shift", "flip,rot90"]}
    tune(fast(tiny_npz, tta="flip"), space, tmp_path / "tune", trials=2, log=lambda line: None)
    assert len(trained) == 2 and {c.tta for c in trained} == {"flip"} and {c.flip for c in trained} == {"auto"}
