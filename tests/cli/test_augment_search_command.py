"""``augment search`` prints a ``medtrain train`` command that trains as its candidates trained (the config, the
flags given, the flips), and the policy names the base augmentation the candidates applied: the line had been
``medtrain train --dataset breastmnist --augment flip,shift,aa.yaml`` after a search with ``--config`` (another
model, flip false), and the policy's comment said ``flip, shift`` though no candidate flipped."""
from __future__ import annotations

import json
import shlex

import pytest

import medtrain.api
import medtrain.tune.flips
from medtrain.augment.policies import load_policy
from medtrain.cli import main


def fake_train(calls):
    def train(cfg, resume=None, verbose=True, callbacks=None, evaluate_test=True, idle_settings=False):
        cfg = getattr(cfg, "config", cfg)  # a resolved Config handed on as it is (config.Resolved)
        calls.append(cfg)
        score = 0.5 + len(calls) / 100
        return {"best_epoch": 0, "history": [{"epoch": 0, "val_auc": score}], "val": {"auc": score}, "test": {}}
    return train


@pytest.fixture
def recipe(tmp_path, tiny_npz):
    path = tmp_path / "base2.yaml"
    path.write_text(f"data: {tiny_npz}\nmodel: resnet10_28_half\naccelerator: cpu\nbootstrap: 20\nflip: false\n"
                    f"batch_size: 32\n")
    return path


def printed_command(out: str) -> list[str]:
    line = next(x for x in out.splitlines() if "train with: " in x)
    return shlex.split(line.split("train with: ", 1)[1])


def comment_base(path) -> str:
    return next(x for x in path.read_text().splitlines() if x.startswith("# Base augmentation"))


@pytest.mark.parametrize("method", [["--method", "autoaugment", "--trials", "2", "--sub-policies", "1"],
                                    ["--n-values", "1", "--m-values", "3", "--no-baseline"]])
def test_the_command_carries_the_config_and_the_policy_names_no_flip_it_never_applied(recipe, tmp_path, monkeypatch,
                                                                                     capsys, method):
    calls = []
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    out = tmp_path / "aa.yaml"
    assert main(["augment", "search", "--config", str(recipe), "--budget-epochs", "1", *method,
                 "--out", str(out)]) == 0
    command = printed_command(capsys.readouterr().out)
    assert command[:4] == ["medtrain", "train", "--config", str(recipe)]
    assert command[-2:] == ["--augment", f"shift,{out}"]
    assert {c.model for c in calls} == {"resnet10_28_half"}  # the settings the candidates trained with ...
    assert comment_base(out).endswith(": shift" if "--n-values" in method else ": shift (flip off: flip false)")
    assert load_policy(out).metadata["search"]["base_augment"] == ["shift"]


def test_flip_auto_is_decided_once_for_the_grid_and_carried_in_the_command(tiny_npz, tmp_path, monkeypatch, capsys):
    calls, pilots = [], []
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    real = medtrain.tune.flips.fit
    monkeypatch.setattr(medtrain.tune.flips, "fit", lambda cfg, *a, **k: pilots.append(cfg) or real(cfg, *a, **k))
    out, work = tmp_path / "ra.yaml", tmp_path / "work"
    argv = ["augment", "search", "--data", str(tiny_npz), "--model", "resnet10_28_half", "--accelerator", "cpu",
            "--budget-epochs", "1", "--n-values", "1", "--m-values", "3,6", "--work-dir", str(work), "--out", str(out)]
    assert main(argv) == 0
    made = json.loads((work / "flip.json").read_text())
    pinned = "true" if made["chosen"] else "false"
    assert len(pilots) == 2 and len(calls) == 3 and {c.flip for c in calls} == {pinned}  # one pair, 3 candidates
    command = printed_command(capsys.readouterr().out)
    assert command[command.index("--flip") + 1] == pinned
    assert command[-1] == ("flip,shift," if made["chosen"] else "shift,") + str(out)
    assert ["--model", "resnet10_28_half"] == command[command.index("--model"):command.index("--model") + 2]
    out.unlink()  # a rerun takes the recorded decision: no pilots
    assert main(argv) == 0 and len(pilots) == 2


def test_flip_auto_is_decided_once_for_an_autoaugment_study(tiny_npz, tmp_path, monkeypatch, capsys):
    calls, pilots = [], []
    monkeypatch.setattr(medtrain.api, "train", fake_train(calls))
    real = medtrain.tune.flips.fit
    monkeypatch.setattr(medtrain.tune.flips, "fit", lambda cfg, *a, **k: pilots.append(cfg) or real(cfg, *a, **k))
    out = tmp_path / "aa.yaml"
    assert main(["augment", "search", "--data", str(tiny_npz), "--model", "resnet10_28_half", "--accelerator", "cpu",
                 "--method", "autoaugment", "--trials", "3", "--sub-policies", "1", "--budget-epochs", "1",
                 "--out", str(out)]) == 0
    record = load_policy(out).metadata["search"]
    assert len(pilots) == 2 and len(calls) == 3 and {c.flip for c in calls} == {record["flip"]}
    assert all(not str(a).endswith(".yaml") for p in pilots for a in p.augment)  # on the base, not a trial's policy
    command = printed_command(capsys.readouterr().out)
    assert command[command.index("--flip") + 1] == record["flip"]
