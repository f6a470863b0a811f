"""A finished run keeps no Lightning checkpoints: once ``metrics.json`` is written nothing reads ``checkpoints/``
(the weights are ``model.safetensors``), which had been ~66 of a default run's ~77 MB (two of 33 MB for the
ResNet-18-half), ~1 GB for a 3-seed compare of 5 arms (CI's disk had filled up). An unfinished run keeps them for
``--resume``; one interrupted between its ``metrics.json`` and their removal is finished all the same, and the next
train call on its folder removes them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import medtrain
from medtrain import rundir
from medtrain.api import train_or_reuse
from medtrain.errors import TrainingInterrupted
from medtrain.models.pretrained import load_source
from medtrain.models.weights import load_state

from conftest import InterruptAt, fast_config, make_images, make_npz

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def finished(tmp_path_factory, one_thread):
    """(run, its data): a finished 1-epoch run."""
    root = tmp_path_factory.mktemp("finished")
    data = make_npz(root / "tiny.npz")
    run = root / "run"
    medtrain.train(fast_config(data, run, epochs=1), verbose=False)
    return run, data


def _interrupt(*a, **k):
    raise KeyboardInterrupt


def test_a_finished_run_has_no_checkpoints_and_is_used_and_returned_as_finished(finished, capsys):
    run, data = finished
    assert rundir.is_finished(run) and not (run / rundir.CHECKPOINT_DIR).exists()
    weights = (run / rundir.WEIGHTS_FILE).read_bytes()
    recorded = rundir.read_metrics(run)
    assert medtrain.evaluate(run, verbose=False)["auc"] == pytest.approx(recorded["test"]["auc"])
    assert medtrain.load(run).predict(make_images(3)[0]).shape[0] == 3
    assert load_source(run).state.keys() == load_state(run / rundir.WEIGHTS_FILE).keys()  # a --pretrained source
    # the same settings again, --resume and compare's reuse all return it: not "interrupted", not trained again
    assert medtrain.train(fast_config(data, run, epochs=1), verbose=False) == recorded
    assert medtrain.train({"progress": False}, resume=run, verbose=True) == recorded
    assert "already finished; nothing to resume" in capsys.readouterr().out
    assert train_or_reuse(fast_config(data, run, epochs=1)) == recorded
    assert (run / rundir.WEIGHTS_FILE).read_bytes() == weights


@pytest.mark.parametrize("next_call", ["resume", "the same settings", "compare's reuse"])
def test_a_run_interrupted_before_its_checkpoints_are_removed_is_finished_and_the_next_call_removes_them(
        tiny_npz, tmp_path, monkeypatch, capsys, next_call):
    run = tmp_path / "run"
    with monkeypatch.context() as m:  # stopped right after metrics.json
        m.setattr(rundir, "remove_checkpoints", _interrupt)
        with pytest.raises(KeyboardInterrupt):
            medtrain.train(fast_config(tiny_npz, run, epochs=1), verbose=False)
    assert rundir.is_finished(run) and rundir.has_checkpoint(run)
    (run / "hpc_ckpt_1.ckpt").write_bytes((run / "checkpoints" / "last.ckpt").read_bytes())  # Lightning's requeue's
    (run / "checkpoints" / "notes.txt").write_text("a user's file")
    recorded = rundir.read_metrics(run)
    # finished all the same: used, and not resumed (nor trained again) from the checkpoints left
    assert medtrain.evaluate(run, verbose=False)["auc"] == pytest.approx(recorded["test"]["auc"])
    assert medtrain.load(run).predict(make_images(2)[0]).shape[0] == 2
    load_source(run)
    settings = fast_config(tiny_npz, run, epochs=1)
    if next_call == "resume":
        assert medtrain.train({"progress": False}, resume=run, verbose=True) == recorded
        assert "already finished" in capsys.readouterr().out
    elif next_call == "the same settings":
        assert medtrain.train(settings, verbose=False) == recorded
    else:
        assert train_or_reuse(settings) == recorded
    # ... and that call removed them, keeping the user's file
    assert not rundir.has_checkpoint(run) and not list(run.glob("hpc_ckpt_*"))
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["notes.txt"]


def test_an_interrupted_run_keeps_its_checkpoints_and_resume_finishes_it_without_them(tiny_npz, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted, match="--resume"):
        medtrain.train(fast_config(tiny_npz, run, epochs=2), verbose=False, callbacks=[InterruptAt(1)])
    assert not rundir.is_finished(run)
    last = run / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 0  # what --resume continues from
    with pytest.raises(medtrain.MedtrainError, match="did not finish"):
        medtrain.load(run)
    m = medtrain.train({"progress": False}, resume=run, verbose=False)
    assert len(m["history"]) == 2 and rundir.is_finished(run) and not (run / "checkpoints").exists()
    assert medtrain.load(run).predict(np.zeros((1, 16, 16), np.uint8)).shape[0] == 1


def test_a_failure_after_metrics_json_leaves_the_finished_run(tiny_npz, tmp_path, monkeypatch):
    # a new folder is removed when training fails before its first checkpoint; a finished run has none left, and a
    # failure after its metrics.json (its summary printed into a closed pipe) had then removed the whole run
    from medtrain.reports import summary

    def closed_pipe(*a, **k):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(summary, "run_summary", closed_pipe)
    run = tmp_path / "run"
    with pytest.raises(BrokenPipeError):
        medtrain.train(fast_config(tiny_npz, run, epochs=1), verbose=True)
    assert rundir.is_finished(run) and (run / rundir.WEIGHTS_FILE).is_file()
