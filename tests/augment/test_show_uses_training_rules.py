"""``medtrain augment show`` takes its op settings and its refusal of a setting no op reads from training's own
functions, so that a change of either rule in training reaches the grid: the settings through
:func:`medtrain.training.build.augment_params` (the config, its ``augment_params``, ``pca`` fitted on the training
images), the refusal through :func:`medtrain.augment.build_batch_augment`'s ``settings``. The CLI had its own copy
of the merge and of the refusal."""
from __future__ import annotations

import pytest

import medtrain.augment
import medtrain.training.build as build
from conftest import make_npz, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")


def test_show_reads_the_op_settings_through_training_s_augment_params(tmp_path, capsys, monkeypatch):
    rgb = make_npz(tmp_path / "rgb.npz", channels=3)  # pca lighting fits RGB images
    calls, real = [], build.augment_params

    def spy(cfg, splits):
        calls.append((cfg.augment, real(cfg, splits)))
        return calls[-1][1]

    monkeypatch.setattr(build, "augment_params", spy)
    code, out, err = run_cli(capsys, "augment", "show", "--data", rgb, "--augment", "mixup,pca", "--n", "2",
                             "--draws", "1", "--mixup-alpha", "0.5", "--out", tmp_path / "g.png")
    assert code == 0, err
    ((augment, params),) = calls  # once, for the ops shown (not the config's own augment)
    assert augment == ("mixup", "pca") and params["mixup_alpha"] == 0.5 and "pca_eig" in params


@pytest.mark.parametrize("flag, value", [("--ra-n", "2"), ("--mixup-alpha", "0.4"), ("--aa-policy", "svhn")])
def test_a_flag_no_op_reads_is_refused_by_training_s_rule(tiny_npz, tmp_path, capsys, monkeypatch, flag, value):
    seen, real = [], medtrain.augment.build_batch_augment

    def spy(names, params=None, given=(), settings=(), **kw):
        seen.append(list(settings))
        return real(names, params, given, settings, **kw)

    monkeypatch.setattr(medtrain.augment, "build_batch_augment", spy)
    code, out, err = run_cli(capsys, "augment", "show", "--data", tiny_npz, "--augment", "flip,shift", flag, value,
                             "--out", tmp_path / "g.png")
    assert code == 2 and seen == [[flag[2:].replace("-", "_")]]
    assert err.startswith(f"medtrain: error: {flag} {value}: no augmentation of --augment flip,shift reads it")
    assert err.rstrip().endswith("reads it; the grid would not show it")  # show records nothing: not train's words
    assert len(err.splitlines()) == 1 and not (tmp_path / "g.png").exists()


def test_training_and_show_end_the_refusal_each_in_its_own_words():
    # the ending had been a message fragment threaded through build_batch_augment (``unread=``); the refusal is now
    # one error that carries the setting, training's words by default and show's where show says them
    from medtrain.augment import UnreadSettingError, build_batch_augment
    from medtrain.cli.augment import build_pipeline
    from medtrain.errors import MedtrainError

    head = "--mixup-alpha 0.4: no augmentation of --augment flip,shift reads it; "
    with pytest.raises(UnreadSettingError) as trained:
        build_batch_augment(["flip", "shift"], {"mixup_alpha": 0.4}, settings=["mixup_alpha"])
    assert str(trained.value) == head + "it would be recorded but not used"
    assert isinstance(trained.value, MedtrainError) and trained.value.setting == "mixup_alpha"
    with pytest.raises(MedtrainError) as shown:
        build_pipeline(["flip", "shift"], {"mixup_alpha": 0.4}, settings=["mixup_alpha"])
    assert str(shown.value) == head + "the grid would not show it"


def test_the_refusal_survives_pickling():
    # a process of a pool sends its error back pickled; loading it had failed (TypeError: __init__ missing 'value'
    # and 'names'), so the caller saw a pickling error in place of the one line
    import pickle

    from medtrain.augment import UnreadSettingError

    e = UnreadSettingError("aa_policy", "svhn", ["flip", "shift"])
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is UnreadSettingError
    assert (back.setting, back.value, back.names) == ("aa_policy", "svhn", ["flip", "shift"])
    assert str(back) == str(e) == "--aa-policy svhn: no augmentation of --augment flip,shift reads it; it would be " \
        "recorded but not used"
    assert back.line("the grid would not show it").endswith("reads it; the grid would not show it")


def test_show_takes_the_ops_of_a_config_file_and_without_either_says_what_is_needed(tmp_path, capsys, monkeypatch):
    """``augment show --config recipe.yaml`` whose ``augment:`` lists the ops had been refused for want of --augment
    (a walk): the file's ops are shown; with neither, one line says what to give."""
    data = make_npz(tmp_path / "d.npz", sizes=(8, 4, 4))
    (tmp_path / "r.yaml").write_text(f"data: {data}\naugment: [flip, erasing]\n")
    calls, real = [], build.augment_params
    monkeypatch.setattr(build, "augment_params", lambda cfg, splits: calls.append(cfg.augment) or real(cfg, splits))
    code, out, err = run_cli(capsys, "augment", "show", "--config", tmp_path / "r.yaml", "--n", "2", "--draws", "1",
                             "--out", tmp_path / "g.png")
    assert code == 0 and calls == [("flip", "erasing")], err
    code, out, err = run_cli(capsys, "augment", "show", "--data", data, "--out", tmp_path / "h.png")
    assert code == 2 and err.strip() == "medtrain: error: give --augment LIST, or a --config file whose augment: " \
        "lists the ops" and not (tmp_path / "h.png").exists()
