"""An interrupted run folder that is moved (or copied) before ``--resume`` ends with the uninterrupted run's result:
the best epoch so far, its score and its file are restored from the moved folder, and nothing is read from the old
one. Lightning's ModelCheckpoint had dropped the best score when its stored absolute folder differed (the first
epoch after the resume became "best" whatever its score) and kept the old folder's best.ckpt path."""
import json
import shutil
import warnings

import pytest
import torch

import medtrain
from medtrain.errors import TrainingInterrupted
from medtrain.models.weights import load_state
from conftest import InterruptAt, fast_config, make_npz

EPOCHS = 3
#: val_acc reaches 1.0 in epoch 1 and again in epoch 2 (a tie is no improvement): the best epoch (1) is not the
#: last, and a resume that forgot the best score would keep epoch 2
SETTINGS = dict(epochs=EPOCHS, monitor="val_acc", checkpoint="best")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def straight(tmp_path_factory, one_thread):
    """The data and the uninterrupted run's folder."""
    root = tmp_path_factory.mktemp("moved")
    data = make_npz(root / "tiny.npz")
    medtrain.train(fast_config(data, root / "straight", **SETTINGS), verbose=False)
    m = json.loads((root / "straight" / "metrics.json").read_text())
    accs = [h["val_acc"] for h in m["history"]]
    # the construction: the best epoch is neither the last nor the one resumed at
    assert m["best_epoch"] == 1 and accs[1] == max(accs) == accs[2], accs
    return data, root / "straight"


def _resume_quietly(run):
    """--resume of ``run``, with the warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        medtrain.train({"progress": False}, resume=run, verbose=False)
    return [str(w.message) for w in caught]


def _same_result(a_dir, b_dir):
    a = json.loads((a_dir / "metrics.json").read_text())
    b = json.loads((b_dir / "metrics.json").read_text())
    assert b["best_epoch"] == a["best_epoch"]
    assert [h["val_acc"] for h in b["history"]] == [h["val_acc"] for h in a["history"]]
    assert b["test"]["acc"] == a["test"]["acc"] and b["test"]["auc"] == pytest.approx(a["test"]["auc"], abs=1e-9)
    wa, wb = load_state(a_dir / "model.safetensors"), load_state(b_dir / "model.safetensors")
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)


def test_a_run_moved_after_an_interrupt_resumes_to_the_uninterrupted_result(straight, tmp_path):
    data, ref = straight
    cut = tmp_path / "cut"
    with pytest.raises(TrainingInterrupted, match="--resume"):
        medtrain.train(fast_config(data, cut, **SETTINGS), verbose=False, callbacks=[InterruptAt(2)])
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(cut, moved)
    assert not cut.exists()  # nothing can be read from the old folder
    said = _resume_quietly(moved)
    _same_result(ref, moved)
    assert not [w for w in said if "dirpath has changed" in w], said  # Lightning's warning, raw, had been printed
    # the best checkpoint restored is the moved folder's, at the best epoch (not the first one after the resume):
    # the kept weights and best_epoch are read from it, which the finished run then removes
    assert json.loads((moved / "metrics.json").read_text())["best_epoch"] == 1
    assert not (moved / "checkpoints").exists()


def test_a_run_moved_while_writing_its_outputs_resumes_from_its_own_best_checkpoint(straight, tmp_path,
                                                                                   monkeypatch):
    # all epochs trained, stopped in the final evaluation, then moved: --resume trains nothing and had died with
    # FileNotFoundError on the old folder's checkpoints/best.ckpt
    from medtrain import rundir

    data, ref = straight

    def stop(*a, **k):
        raise KeyboardInterrupt

    cut = tmp_path / "cut"
    with monkeypatch.context() as m:
        m.setattr(rundir, "write_report", stop)
        with pytest.raises(KeyboardInterrupt):
            medtrain.train(fast_config(data, cut, **SETTINGS), verbose=False)
    assert not rundir.is_finished(cut)
    moved = tmp_path / "moved"
    shutil.move(cut, moved)
    said = _resume_quietly(moved)
    assert rundir.is_finished(moved)
    _same_result(ref, moved)
    assert not [w for w in said if "dirpath has changed" in w], said
