"""A linear probe refuses the settings it never reads when a ``--config`` file gives them, as it refuses them typed:
``ema: 0.5`` in the YAML of a new run had been accepted, recorded in its config.yaml and ignored, while ``--ema 0.5``
was refused. What a probe run records itself for its ``auto`` settings (lr, batch size, checkpoint) is not the user's
asking: a probe run's own config.yaml given as ``--config`` still trains."""
from __future__ import annotations

import pytest

from conftest import fast_config, make_npz, run_cli
from medtrain.config import resolve
from medtrain.config.checks import PROBE_UNREAD, check_probe_read
from medtrain.errors import MedtrainError
from medtrain.training.build import resolve_auto

pytestmark = pytest.mark.usefixtures("one_thread")

PROBE = {"dataset": "breastmnist", "pretrained": "SRC", "transfer": "linear-probe"}

#: One non-default value of every setting a linear probe does not read, as a YAML file holds it.
IN_FILE = {"ema": 0.5, "dropout": 0.4, "augment": "mixup,flip", "label_smoothing": 0.2, "early_stop": "val_auc",
           "optimizer": "sgd", "lr": 0.5, "momentum": 0.5, "weight_decay": 0.1, "decay_norm_and_bias": True,
           "schedule": "cosine", "milestones": [0.3], "epochs": 5, "batch_size": 16, "checkpoint": "last",
           "patience": 3, "min_delta": 0.01, "early_stop_warmup": 2, "augment_params": {"flip_p": 0.3},
           "cutmix_alpha": 0.5, "mixup_alpha": 0.4, "erasing_p": 0.2, "aa_policy": "cifar10", "ra_n": 3, "ra_m": 5,
           "flip": "true", "class_weights": "true", "drop_path": 0.1, "drop_block": 0.1,
           "dropout_kind": "annealed", "head": "maxout:2",
           "anneal_epochs": 3}


def from_file(settings: dict, flags: dict = PROBE) -> None:
    """What ``medtrain train --config probe.yaml`` checks for a new run."""
    cfg = resolve(settings, flags)
    check_probe_read(cfg, flags, ("probe.yaml", settings), lambda c: resolve_auto(c, 2))


def test_every_unread_setting_has_a_file_value():
    assert set(IN_FILE) == set(PROBE_UNREAD)


@pytest.mark.parametrize("key", sorted(IN_FILE))
def test_each_unread_setting_in_a_config_file_is_refused_naming_it_and_the_file(key):
    with pytest.raises(MedtrainError, match=f"^{key} \\(in probe.yaml\\): a linear probe.*recorded but not used"):
        from_file({key: IN_FILE[key]})


def test_what_a_probe_run_records_for_its_auto_settings_and_what_it_reads_pass():
    from_file({"lr": 1e-3, "batch_size": 128, "checkpoint": "best"})  # a probe run's config.yaml resolves them so
    from_file({"ema": 0.0, "epochs": 30, "flip": "auto"})  # the defaults, written out
    from_file({"probe_layer": "layer3", "probe_classifier": "svm", "monitor": "val_acc", "tta": "hflip", "seed": 3})
    from_file({"ema": 0.5}, {**PROBE, "transfer": "finetune"})  # other transfers are not concerned
    with pytest.raises(MedtrainError, match="^lr \\(in probe.yaml\\)"):
        from_file({"lr": 1e-2, "batch_size": 128})  # not what a probe records


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Tiny two-class data and a 1-epoch source run A to probe."""
    import medtrain

    root = tmp_path_factory.mktemp("probe_file")
    data = make_npz(root / "tiny.npz", sizes=(48, 16, 16))
    medtrain.train(fast_config(data, root / "A", epochs=1, bootstrap=0, tta="none"), verbose=False)
    return root, data


def probe_flags(source, out) -> list:
    root, data = source
    return ["train", "--data", data, "--model", "resnet10_28_half", "--pretrained", root / "A", "--transfer",
            "linear-probe", "--accelerator", "cpu", "--precision", "32-true", "--bootstrap", "0", "--no-progress",
            "--out", out]


def test_the_command_line_refuses_a_config_file_setting_a_probe_would_not_read(source, tmp_path, capsys):
    config = tmp_path / "probe.yaml"
    config.write_text("ema: 0.5\nlr: 0.5\n")
    code, _, err = run_cli(capsys, *probe_flags(source, tmp_path / "run"), "--config", config)
    assert code == 2 and "Traceback" not in err
    assert f"lr, ema (in {config}): a linear probe" in err and "recorded but not used" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()  # nothing written


@pytest.fixture(scope="module")
def probe_run(source, tmp_path_factory):
    """A linear probe of A trained by the command line, as a user or a compare cell trains it; shared by the tests
    that train again from its config.yaml (each had trained its own)."""
    import contextlib
    import io

    from medtrain.cli import main

    out = tmp_path_factory.mktemp("probe_run") / "P"
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main([str(a) for a in probe_flags(source, out)])
    assert code == 0, err.getvalue()
    return out


def test_a_probe_runs_own_config_trains_again(probe_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "--config", probe_run / "config.yaml", "--out", tmp_path / "P2")
    assert code == 0, err
    assert (tmp_path / "P2" / "metrics.json").is_file()


def test_a_compare_cells_probe_config_recording_the_grids_settings_trains_again(probe_run, tmp_path, capsys):
    # a grid's base settings (epochs, flip) are recorded in its linear-probe cell, which never read them (a copy of
    # the shared probe's config.yaml, edited as the cell's would hold them)
    config = tmp_path / "cell" / "config.yaml"
    config.parent.mkdir()
    recorded = (probe_run / "config.yaml").read_text()
    config.write_text(recorded.replace("epochs: 30", "epochs: 1").replace("flip: auto", "flip: 'false'"))
    assert "epochs: 1" in config.read_text() and "flip: 'false'" in config.read_text()
    code, _, err = run_cli(capsys, "train", "--config", config, "--out", tmp_path / "again")
    assert code == 0, err
    assert (tmp_path / "again" / "metrics.json").is_file()
