"""``flip: auto`` is decided once per study (two pilot runs on the base settings), kept in the study and pinned
for every trial and in ``best_config.yaml``: every trial had run the two pilots again, unsaid (a 1-epoch trial
took twice as long).

A search whose base settings pin a TTA that flips the test images keeps flips on for every trial: its pilots
had pinned ``flip: false`` with ``tta: hflip`` (trials and best_config.yaml), a combination ``train`` refuses. Its rule
(:func:`medtrain.training.choices.tta_keeps_flips`) is asked once, and with no flip in the augmentation it refuses
the search before any trial, in ``train``'s line."""
from __future__ import annotations

import optuna
import pytest
import yaml

import medtrain.api
import medtrain.tune.flips
from medtrain import config as config_mod
from medtrain.cli import main
from medtrain.config.checks import check_typed_for_a_new_run
from medtrain.errors import MedtrainError
from medtrain.training import choices
from medtrain.tune import tune
from medtrain.tune.flips import FLIP_ATTR
from medtrain.tune.study import default_storage

SPACE = {"lr": {"low": 1e-3, "high": 3e-2, "log": True}}


def fast(data, **over) -> dict:
    return {"data": str(data), "model": "resnet10_28_half", "epochs": 1, "batch_size": 32, "schedule": "none",
            "accelerator": "cpu", "bootstrap": 20, "tta": "none", "logger": "none", **over}


def fake_train(calls):
    def train(cfg, resume=None, verbose=True, callbacks=None, evaluate_test=True, idle_settings=False):
        calls.append(cfg)
        return {"best_epoch": 0, "history": [], "val": {"auc": cfg.lr}, "test": {}}
    return train


def counting_pilots(monkeypatch):
    pilots = []
    real = medtrain.tune.flips.fit

    def fit(cfg, splits, run_dir, **kw):
        pilots.append(cfg)
        return real(cfg, splits, run_dir, **kw)

    monkeypatch.setattr(medtrain.tune.flips, "fit", fit)
    return pilots


def pilots_asked(monkeypatch):
    """The configs the study's flip decision is asked for, each answered 'flips off' without training: what the
    pilots may choose, where they must not be asked."""
    decided = []

    def pilots_choose_off(cfg, splits, pilot_dir):
        decided.append(cfg)
        return {"chosen": False, "how": "pilot runs of 1 epoch(s) on validation", "pinned": True}

    monkeypatch.setattr(medtrain.tune.flips, "decide_once", pilots_choose_off)
    return decided


def test_flips_are_decided_once_for_the_study_and_pinned_for_every_trial(tiny_npz, tmp_path, monkeypatch):
    calls, lines, out = [], [], tmp_path / "tune"
    pilots = counting_pilots(monkeypatch)
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    tune(fast(tiny_npz), SPACE, out, trials=3, log=lines.append)
    assert len(pilots) == 2  # one pair of pilots, with and without flips, for three trials
    study = optuna.load_study(study_name="tune", storage=default_storage(out))
    made = study.user_attrs[FLIP_ATTR]
    pinned = "true" if made["chosen"] else "false"
    assert [c.flip for c in calls] == [pinned] * 3
    assert any(line.startswith("tune: flips ") and "decided once for the study" in line for line in lines)
    assert yaml.safe_load((out / "best_config.yaml").read_text())["flip"] == pinned  # retrained as its trial was
    assert not (out / "trials" / "flip-pilots").exists()
    # a rerun continuing the study takes its decision: no pilots, the same flips
    tune(fast(tiny_npz), SPACE, out, trials=4, log=lines.append)
    assert len(pilots) == 2 and len(calls) == 4 and calls[-1].flip == pinned


@pytest.mark.parametrize("key, values", [("augment", ["none", "flip,shift"]),
                                         ("augment_params", ["flip_p=0", "flip_p=0.5"])])
def test_a_space_searching_what_decides_flips_leaves_each_trial_its_own_decision(tiny_npz, tmp_path, monkeypatch,
                                                                                 key, values):
    """flip or the augmentation; or flip_p, since flip_p 0 flips nothing (the flip rule reads augment_params): one
    decision for the study, made by pilots with the base's flip_p, had pinned flips for the trials that drew flip_p 0
    as for the others."""
    calls, lines = [], []
    pilots = counting_pilots(monkeypatch)
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    tune(fast(tiny_npz), {**SPACE, key: values}, tmp_path / "tune", trials=2, log=lines.append)
    assert pilots == [] and {c.flip for c in calls} == {"auto"}
    assert any("flips: decided by each trial" in line and key in line for line in lines)


def test_pinned_flips_need_no_pilots(tiny_npz, tmp_path, monkeypatch):
    calls = []
    pilots = counting_pilots(monkeypatch)
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    tune(fast(tiny_npz, flip="false"), SPACE, tmp_path / "tune", trials=2, log=lambda line: None)
    assert pilots == [] and {c.flip for c in calls} == {"false"}


@pytest.mark.parametrize("tta", ["hflip", "flip"])
def test_a_pinned_flipping_tta_keeps_flips_on_without_pilots(tiny_npz, tmp_path, monkeypatch, tta):
    calls, lines, out, asked = [], [], tmp_path / "tune", []
    monkeypatch.setattr(medtrain.tune.flips, "fit", lambda *a, **k: pytest.fail("a flip pilot trained"))
    rule = choices.tta_keeps_flips
    monkeypatch.setattr(choices, "tta_keeps_flips", lambda *a: asked.append(a) or rule(*a))
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    augment = "flip,shift" if tta == "hflip" else "flip,vflip,shift"  # flip flips up-down too: vflip trains it
    tune(fast(tiny_npz, tta=tta, augment=augment), SPACE, out, trials=2, log=lines.append)
    assert [c.flip for c in calls] == ["true", "true"] and {c.tta for c in calls} == {tta}
    assert len(asked) == 1  # the study's decision asks the rule once (it had been asked twice)
    (line,) = [x for x in lines if x.startswith("tune: flips")]
    # in train's words for the same decision (tta_keeps_flips' record), not a second wording of its own
    assert line == f"tune: flips on for every trial (flip: true), kept for --tta {tta}, which flips the test images " \
                   "(no pilot runs)"
    best = yaml.safe_load((out / "best_config.yaml").read_text())
    assert best["flip"] == "true" and best["tta"] == tta
    check_typed_for_a_new_run(config_mod.resolve(best))  # what train is given, it accepts
    # its comment, and a rerun's line, in that record's words ("decided once for the study by kept for --tta ..."
    # and "as the study decided (kept for --tta hflip, which flips the test images (no pilot runs))" had read so)
    kept = f"kept for --tta {tta}, which flips the test images (no pilot runs)"
    assert f"# flip: true, as every trial was trained: {kept}.\n" in (out / "best_config.yaml").read_text()
    lines.clear()
    tune(fast(tiny_npz, tta=tta, augment=augment), SPACE, out, trials=3, log=lines.append)
    assert [x for x in lines if x.startswith("tune: flips")] == [
        f"tune: flips on for every trial (flip: true), as the study decided: {kept}"]
    assert len(asked) == 1 and [c.flip for c in calls] == ["true"] * 3  # the study's decision, not asked again


def test_a_tta_that_does_not_flip_still_lets_the_pilots_decide(tiny_npz, tmp_path, monkeypatch):
    calls = []
    decided = pilots_asked(monkeypatch)
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    tune(fast(tiny_npz, tta="none"), SPACE, tmp_path / "tune", trials=1, log=lambda line: None)
    assert len(decided) == 1 and [c.flip for c in calls] == ["false"]


@pytest.mark.parametrize("augment", ["none", "shift"])
def test_a_pinned_flipping_tta_with_no_flip_in_the_augmentation_is_refused_before_any_trial(tiny_npz, tmp_path,
                                                                                             monkeypatch, augment):
    calls, out = [], tmp_path / "tune"
    monkeypatch.setattr(medtrain.tune.flips, "fit", lambda *a, **k: pytest.fail("a flip pilot trained"))
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    with pytest.raises(MedtrainError) as refused:
        tune(fast(tiny_npz, tta="hflip", augment=augment), SPACE, out, trials=2, log=lambda line: None)
    assert str(refused.value) == (
        f"--tta hflip flips the test images, but --augment {augment} has no flip: the network would be scored on "
        "flipped images it never saw; add flip to --augment, give --tta none or shift, or --flip true to flip the "
        "test images anyway")
    assert calls == [] and not out.exists()  # no trial, no study left to block the corrected command


@pytest.mark.parametrize("space", [{"augment": ["flip,shift", "none"]}, {"tta": ["none", "hflip"]}])
def test_a_space_searching_the_augmentation_or_tta_is_refused_before_any_trial(tiny_npz, tmp_path, capsys,
                                                                               monkeypatch, space):
    """Each trial decides its own flips where the space searches augment or tta; the value train refuses with the
    base's (a flipping TTA, no flip in the augmentation) had been refused inside train, by the trial that drew it,
    stopping the search partway."""
    calls, out = [], tmp_path / "tune"
    monkeypatch.setattr(medtrain.tune.flips, "fit", lambda *a, **k: pytest.fail("a flip pilot trained"))
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    (key, values), = space.items()
    base = fast(tiny_npz, tta="hflip") if key == "augment" else fast(tiny_npz, augment="shift")
    refused = ("search space augment: value 'none' is refused by train (--tta hflip flips the test images, but "
               "--augment none has no flip" if key == "augment" else
               "search space tta: value 'hflip' is refused by train (--tta hflip flips the test images, but --augment "
               "shift has no flip")
    with pytest.raises(MedtrainError) as e:
        tune(base, {**SPACE, **space}, out, trials=4, log=lambda line: None)
    assert str(e.value).startswith(refused) and str(e.value).endswith("flip the test images anyway)"), e.value
    assert calls == [] and not out.exists()  # no trial, no study left
    (tmp_path / "space.yaml").write_text(f"{key}: [{', '.join(values)}]\n".replace("flip,shift", "'flip,shift'"))
    flags = ["--tta", "hflip"] if key == "augment" else ["--augment", "shift"]
    assert main(["tune", "--data", str(tiny_npz), "--model", "resnet10_28_half", "--epochs", "1", "--accelerator",
                 "cpu", *flags, "--space", str(tmp_path / "space.yaml"), "--trials", "4", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"medtrain: error: {e.value}"] and calls == [] and not out.exists()


def test_a_rerun_of_an_old_study_whose_base_train_refuses_is_refused_where_a_trial_is_left(tiny_npz, tmp_path,
                                                                                          monkeypatch, capsys):
    """--tta flip with the default flip,shift (never up-down) searches no setting the rule reads; an older medtrain
    kept flips on for it (flip: true pinned for every trial). A rerun with a trial left had trained it, unrefused."""
    calls, out = [], tmp_path / "tune"
    monkeypatch.setattr(medtrain.tune.flips, "fit", lambda *a, **k: pytest.fail("a flip pilot trained"))
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    base = fast(tiny_npz, tta="flip")
    with monkeypatch.context() as older:
        older.setattr(choices, "check_tta_flips_trained", lambda cfg: None)
        older.setattr(config_mod.flips, "check_tta_flips_trained", lambda cfg: None)
        tune(base, SPACE, out, trials=2, log=lambda line: None)
    assert [c.flip for c in calls] == ["true", "true"]  # the study's record: flips kept
    tune(base, SPACE, out, trials=2, log=lambda line: None)  # --trials reached: read, reported
    assert len(calls) == 2
    line = ("--tta flip flips the test images vertically too, but --augment flip,shift never flips vertically: the "
            "network would be scored on vertically flipped images it never saw; add vflip to --augment, give --tta "
            "hflip, none or shift, or --flip true to flip the test images anyway; study 'tune' in "
            f"{default_storage(out)} keeps the settings it was started with: search with others under another --out "
            "or --study-name")
    with pytest.raises(MedtrainError) as refused:
        tune(base, SPACE, out, trials=3, log=lambda line: None)
    assert str(refused.value) == line and len(calls) == 2
    (tmp_path / "space.yaml").write_text("lr: {low: 0.001, high: 0.03, log: true}\n")
    # no --trials: trials are left
    assert main(["tune", "--data", str(tiny_npz), "--model", "resnet10_28_half", "--epochs", "1", "--batch-size",
                 "32", "--schedule", "none", "--accelerator", "cpu", "--bootstrap", "20", "--logger", "none", "--tta",
                 "flip", "--space", str(tmp_path / "space.yaml"), "--budget", "60", "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"medtrain: error: {line}"] and len(calls) == 2
