"""The same command given again: a run of the same settings in its folder is returned when finished and continued
when interrupted; one trained with something that changed since is refused in one line, never returned as "same
settings" nor retrained over. Found in a regression walk: an edited policy YAML was taken for the same settings (the
run trained with the old policy returned, exit 0), and a fine-tune whose source folder moved was refused as "other
settings" (its recorded absolute source against the typed relative name)."""
import shutil

import pytest

import medtrain
from medtrain.errors import TrainingInterrupted
from medtrain.api import train_or_reuse
from medtrain.augment.policies import randaugment_policy, save_policy
from conftest import InterruptAt, fast_config, make_npz, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

SIZES = (64, 16, 16)


@pytest.fixture
def here(tmp_path, monkeypatch):
    """A working folder with tiny.npz and pol/ra.yaml, named relatively as a user types them."""
    monkeypatch.chdir(tmp_path)
    make_npz(tmp_path / "tiny.npz", sizes=SIZES)
    (tmp_path / "pol").mkdir()
    save_policy(randaugment_policy(2, 5), tmp_path / "pol" / "ra.yaml")
    return tmp_path


def _edit_policy(path):
    save_policy(randaugment_policy(1, 5), path)  # the walk's `sed s/layers: 2/layers: 1/`


TRAIN = ["train", "--data", "tiny.npz", "--model", "resnet10_28_half", "--epochs", 1, "--batch-size", 32,
         "--bootstrap", 0, "--schedule", "none", "--accelerator", "cpu", "--flip", "true", "--precision", "32-true",
         "--tta", "none", "--class-weights", "false", "--no-progress", "--augment", "shift,pol/ra.yaml", "--out", "r4"]


def test_the_same_train_command_after_its_policy_file_was_edited_is_refused_in_one_line(here, capsys):
    code, _, err = run_cli(capsys, *TRAIN)
    assert code == 0, err
    metrics = (here / "r4" / "metrics.json").read_bytes()
    kept = (here / "pol" / "ra.yaml").read_bytes()
    _edit_policy(here / "pol" / "ra.yaml")

    code, out, err = run_cli(capsys, *TRAIN)
    assert code == 2 and "already finished" not in out
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"the augmentation policy {here / 'pol' / 'ra.yaml'} changed since r4 trained with it" in err
    assert "restore it" in err and "new --out" in err
    assert (here / "r4" / "metrics.json").read_bytes() == metrics  # nothing retrained

    (here / "pol" / "ra.yaml").write_bytes(kept)  # the policy the run trained with: the same settings again
    code, out, _ = run_cli(capsys, *TRAIN)
    assert code == 0 and "r4 is already finished (same settings); nothing to do" in out


def test_train_or_reuse_does_not_reuse_a_cell_whose_policy_file_was_edited(here):
    """``compare`` and ``augment search`` reuse finished cells through train_or_reuse: a cell trained with the
    old policy had been returned as the edited policy's score."""
    cfg = fast_config("tiny.npz", "cell", epochs=1, bootstrap=0, augment=["shift", "pol/ra.yaml"])
    train_or_reuse(cfg)
    metrics = (here / "cell" / "metrics.json").read_bytes()
    _edit_policy(here / "pol" / "ra.yaml")
    said = (r"^the augmentation policy .*ra\.yaml changed since cell trained with it; restore it \(its content as "
            r"the run trained with it is in cell/metrics\.json's augment_policy\), or train a new --out")
    with pytest.raises(medtrain.MedtrainError, match=said) as e:
        train_or_reuse(cfg)
    assert "\n" not in str(e.value)
    assert (here / "cell" / "metrics.json").read_bytes() == metrics  # not retrained over either


def test_a_fine_tune_whose_source_moved_continues_with_the_same_command(here, capsys):
    medtrain.train(fast_config("tiny.npz", "srcA", epochs=1, bootstrap=0), verbose=False)
    cfg = fast_config("tiny.npz", "ftC", epochs=3, bootstrap=0, pretrained="srcA")  # relative, as typed
    with pytest.raises(TrainingInterrupted, match="interrupted after epoch 1"):
        medtrain.train(cfg, verbose=False, callbacks=[InterruptAt(1)])
    shutil.move("srcA", "moved")
    capsys.readouterr()

    m = medtrain.train(cfg)  # had been: "ftC was run with other settings (pretrained: '.../srcA', now 'srcA')"
    out = capsys.readouterr().out
    assert m["stop_epoch"] == 2 and len(m["history"]) == 3
    assert (f"continuing the interrupted run in ftC (same settings); its source {here / 'srcA'} is no longer there, "
            "which resuming does not need") in out

    medtrain.train(cfg)  # and once finished, the same command returns it
    assert "ftC is already finished (same settings); nothing to do" in capsys.readouterr().out
