"""The same `medtrain train ... --out RUN` command works on first submission and when a batch scheduler requeues
the job it stopped: a run of the same settings in RUN is continued where it stopped, or returned when it has
finished; a run of other settings is refused, naming them (the requeued command had been refused "RUN already
holds a run", exit 2, as `compare`, `train --folds` and `tune` are not; /tmp/walk_batch)."""
from __future__ import annotations

import pytest

import medtrain
from medtrain import api, rundir
from medtrain.errors import TrainingInterrupted
from conftest import InterruptAt, make_npz, run_cli

EPOCHS = 3


@pytest.fixture
def data(tmp_path):
    return make_npz(tmp_path / "tiny.npz", sizes=(48, 16, 16))


def _argv(data, out, epochs=EPOCHS):
    return ["train", "--data", data, "--out", out, "--epochs", epochs, "--model", "resnet10_28_half", "--flip",
            "false", "--batch-size", 16, "--bootstrap", 0, "--no-progress"]


def _stopped(monkeypatch, epoch):
    """``fit`` stopped at ``epoch`` (until the monkeypatch context ends)."""
    real = api.fit

    def fit(*a, callbacks=None, **k):
        return real(*a, callbacks=[*(callbacks or []), InterruptAt(epoch)], **k)

    monkeypatch.setattr(api, "fit", fit)


def _no_training(monkeypatch):
    def fit(*a, **k):
        raise AssertionError("trained again")

    monkeypatch.setattr(api, "fit", fit)


def _files(run):
    return {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != rundir.LOCK_FILE}


@pytest.mark.parametrize("epoch", [1, 0], ids=["after-a-checkpoint", "before-any-checkpoint"])
def test_the_same_command_after_an_interruption_continues_the_run(data, tmp_path, capsys, monkeypatch, epoch):
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        _stopped(m, epoch)
        code, _, _ = run_cli(capsys, *_argv(data, out))
    assert code == 130 and rundir.is_run(out) and not rundir.is_finished(out)
    assert rundir.has_checkpoint(out) == (epoch > 0)
    code, said, err = run_cli(capsys, *_argv(data, out))  # the requeued job: the same command line
    assert code == 0, err
    assert f"continuing the interrupted run in {out} (same settings)" in said.splitlines()
    m = rundir.read_metrics(out)
    assert rundir.is_finished(out) and [h["epoch"] for h in m["history"]] == list(range(EPOCHS))
    if epoch:  # continued from its checkpoint, not trained again from the start
        assert m["wall_s_before_resume"] > 0


def test_the_same_command_on_a_finished_run_returns_it_without_training(data, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert run_cli(capsys, *_argv(data, out))[0] == 0
    finished = _files(out)
    _no_training(monkeypatch)
    code, said, err = run_cli(capsys, *_argv(data, out))
    assert code == 0 and err == ""
    assert said.splitlines()[0] == f"{out} is already finished (same settings); nothing to do"
    assert _files(out) == finished
    # in Python too: its metrics, the run left as it is
    assert medtrain.train(_as_api(data, out), verbose=False) == rundir.read_metrics(out) and _files(out) == finished


def test_a_run_of_other_settings_is_refused_naming_them(data, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as m:
        _stopped(m, 1)
        assert run_cli(capsys, *_argv(data, out))[0] == 130
    kept = _files(out)
    _no_training(monkeypatch)
    code, _, err = run_cli(capsys, *_argv(data, out, epochs=5))
    assert code == 2 and err.strip().splitlines() == [
        f"medtrain: error: {out} was run with other settings (epochs: {EPOCHS}, now 5); use --resume {out} to "
        f"continue it with its own settings, or another --out"]
    assert _files(out) == kept


def test_a_run_of_the_same_settings_finished_by_another_process_meanwhile_is_returned_as_it_is(data, tmp_path,
                                                                                             capsys, monkeypatch):
    out = tmp_path / "run"
    real, calls, finished = api.load_splits, [], {}

    def load_while_another_finishes(cfg, processes=None):
        calls.append(cfg)
        if len(calls) == 1:  # the same command, started later, finishes first
            assert run_cli(capsys, *_argv(data, out))[0] == 0
            finished.update(_files(out))
        return real(cfg, processes)

    monkeypatch.setattr(api, "load_splits", load_while_another_finishes)
    code, said, _ = run_cli(capsys, *_argv(data, out))
    assert code == 0 and f"{out} is already finished (same settings); nothing to do" in said.splitlines()
    assert finished and _files(out) == finished  # not trained over


def test_a_run_of_the_same_settings_stopped_by_another_process_meanwhile_is_left_to_the_next_call(
        data, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    real, calls = api.load_splits, []

    def load_while_another_stops(cfg, processes=None):
        calls.append(cfg)
        if len(calls) == 1:  # the same command, started later, is stopped after an epoch
            with pytest.raises(TrainingInterrupted):
                medtrain.train(_as_api(data, out), verbose=False, callbacks=[InterruptAt(1)])
        return real(cfg, processes)

    monkeypatch.setattr(api, "load_splits", load_while_another_stops)
    code, _, err = run_cli(capsys, *_argv(data, out))
    assert code == 2 and err.strip() == (f"medtrain: error: {out} was started by another process while this one "
                                         "loaded its data; run the same command again to continue it")
    assert not rundir.is_finished(out) and rundir.has_checkpoint(out)  # its checkpoint kept, not trained over
    monkeypatch.setattr(api, "load_splits", real)
    code, said, _ = run_cli(capsys, *_argv(data, out))
    assert code == 0 and f"continuing the interrupted run in {out} (same settings)" in said.splitlines()
    assert len(rundir.read_metrics(out)["history"]) == EPOCHS


def _as_api(data, out):
    """:func:`_argv`'s settings as a Python call gives them."""
    return dict(data=str(data), out=str(out), epochs=EPOCHS, model="resnet10_28_half", flip="false", batch_size=16,
                bootstrap=0, progress=False)
