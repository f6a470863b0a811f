"""A model handed on as the minimum to use it, ``model.safetensors`` and ``config.yaml`` of a finished run (found
in a user walkthrough: a collaborator was told the folder "did not finish" and to `train --resume` it, which
trained from scratch over the model received)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

import medtrain
from medtrain import rundir
from medtrain._yaml import write_yaml

from conftest import run_cli


def _received(run, to, data_at=None):
    """``to`` holding only the run's weights and config (``data_at``: where its config says the data are)."""
    to.mkdir()
    shutil.copy2(run / "model.safetensors", to)
    shutil.copy2(run / "config.yaml", to)
    if data_at is not None:  # the collaborator's machine: the run's data are not where the config says
        write_yaml(to / "config.yaml", {**rundir.read_config(to), "data": str(data_at), "data_dir": None})
    return to


def test_predict_export_and_explain_use_the_weights_and_config_alone_as_the_whole_run(trained_run, tmp_path, capsys):
    run, data, arrays = trained_run
    got = _received(run, tmp_path / "got", data_at=tmp_path / "not_here.npz")
    images = arrays["test_images"]
    full = medtrain.load(run).predict(images)
    assert np.array_equal(medtrain.load(got).predict(images), full)  # TTA, temperature, classes: the run's own
    assert np.array_equal(medtrain.load(got, tta=False).predict(images), medtrain.load(run, tta=False).predict(images))
    code, _, err = run_cli(capsys, "predict", got, data, "--out", tmp_path / "got.csv")
    assert code == 0, err
    assert run_cli(capsys, "predict", run, data, "--out", tmp_path / "run.csv")[0] == 0
    assert (tmp_path / "got.csv").read_text() == (tmp_path / "run.csv").read_text()
    # the TorchScript-based exporter: what export reads of the run (its config, weights and check images) is the
    # same for either, and the dynamo exporter (5-10 s) exports this very run in tests/use/test_export.py
    code, _, err = run_cli(capsys, "export", got, "--out", tmp_path / "m.onnx", "--exporter", "torchscript")
    assert code == 0 and (tmp_path / "m.onnx").is_file(), err
    Image.fromarray(images[0]).save(tmp_path / "a.png")
    code, printed, err = run_cli(capsys, "explain", got, tmp_path / "a.png", "--out", tmp_path / "ex")
    assert code == 0 and printed.startswith("1 input(s) explained"), err
    assert sorted(p.name for p in got.iterdir()) == ["config.yaml", "model.safetensors"]  # nothing written into it


def test_eval_of_the_weights_and_config_alone_names_what_is_missing_in_one_line(trained_run, tmp_path, capsys):
    got = _received(trained_run[0], tmp_path / "got")
    code, _, err = run_cli(capsys, "eval", got)
    assert code == 2 and err.count("\n") == 1 and "--resume" not in err
    assert err.startswith(f"medtrain: error: {got} has no metrics.json: eval checks the run's data")


def test_weights_without_their_config_are_refused_naming_the_config(trained_run, tmp_path):
    got = tmp_path / "got"
    got.mkdir()
    shutil.copy2(trained_run[0] / "model.safetensors", got)
    with pytest.raises(medtrain.MedtrainError, match=f"{got} holds model.safetensors without config.yaml.*copy it too"):
        medtrain.load(got)


def test_resume_does_not_train_over_a_received_model(trained_run, tmp_path, capsys):
    got = _received(trained_run[0], tmp_path / "got")  # its data at hand: resuming it had retrained it, unsaid
    weights = (got / "model.safetensors").read_bytes()
    said = f"{got} holds a finished model without its metrics.json and no checkpoint to resume from; train into a new --out"
    with pytest.raises(medtrain.MedtrainError) as e:
        medtrain.train({"progress": False}, resume=got, verbose=False)
    assert str(e.value) == said
    code, _, err = run_cli(capsys, "train", "--resume", got, "--no-progress")
    assert code == 2 and err.strip() == f"medtrain: error: {said}"
    # the same settings into its folder continue a run there: refused alike
    with pytest.raises(medtrain.MedtrainError, match="no checkpoint to resume from"):
        medtrain.train({**rundir.read_config(got), "out": str(got)}, verbose=False)
    assert (got / "model.safetensors").read_bytes() == weights
    assert sorted(p.name for p in got.iterdir()) == ["config.yaml", "model.safetensors"]


def test_an_interrupted_run_with_its_checkpoints_is_still_sent_to_resume(interrupted_run):
    run = interrupted_run
    assert rundir.has_checkpoint(run) and (run / "model.safetensors").is_file() and not rundir.is_finished(run)
    with pytest.raises(medtrain.MedtrainError, match=rf"did not finish \(no metrics.json\); finish it with "
                                                     rf"`medtrain train --resume {run}`"):
        medtrain.load(run)


def test_a_received_model_serves_as_a_transfer_source_and_an_interrupted_run_does_not(trained_run, interrupted_run,
                                                                                      tmp_path):
    """A model handed on as weights and config had been told it 'did not finish; finish it with --resume' when
    used as --pretrained, as predict had."""
    import torch

    from medtrain.models.pretrained import load_source

    got = load_source(_received(trained_run[0], tmp_path / "received"))
    want = load_source(trained_run[0])
    assert got.state.keys() == want.state.keys()
    assert all(torch.equal(got.state[k], want.state[k]) for k in want.state)
    with pytest.raises(medtrain.MedtrainError, match="did not finish"):
        load_source(interrupted_run)
