"""An interrupted run loses at most the current epoch, and --resume ends with the uninterrupted result."""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

import medtrain
from medtrain.errors import TrainingInterrupted
from medtrain.cli import main as cli_main
from medtrain.models.weights import load_state
from conftest import InterruptAt, fast_config, make_npz

EPOCHS = 4
#: where a test is about what a resume records or refuses, not about the epochs it trains: cut in epoch 2 of 3,
#: the resume trains one epoch
SHORT = 3


def _same_run(a_dir, b_dir):
    a = json.loads((a_dir / "metrics.json").read_text())
    b = json.loads((b_dir / "metrics.json").read_text())
    assert [h["val_loss"] for h in a["history"]] == pytest.approx([h["val_loss"] for h in b["history"]], abs=1e-6)
    assert a["best_epoch"] == b["best_epoch"] and a["test"]["acc"] == b["test"]["acc"]
    wa, wb = load_state(a_dir / "model.safetensors"), load_state(b_dir / "model.safetensors")
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)
    # the experiment log too: the epochs before the interrupt had been logged again at step 0
    logs = [list(csv.DictReader((d / "logs" / "csv" / "metrics.csv").open())) for d in (a_dir, b_dir)]
    assert [(r["epoch"], r["step"]) for r in logs[0]] == [(r["epoch"], r["step"]) for r in logs[1]]
    assert logs[0][0]["step"] != "0"


@pytest.mark.parametrize("ema", [0.0, 1.0], ids=["plain", "ema"])
def test_ctrl_c_then_resume_equals_uninterrupted_run(tiny_npz, tmp_path, ema):
    # with --ema the moving average is restored too (Lightning's WeightAveraging keeps it in last.ckpt)
    # 3 epochs cut in epoch 1: the resume still trains across an epoch boundary (epochs 1 and 2); 4 cut in epoch 2
    # had trained two more epochs for the same check
    kw = dict(epochs=SHORT, schedule="onecycle", augment="flip,shift", dropout=0.2, ema=ema)
    medtrain.train(fast_config(tiny_npz, tmp_path / "straight", **kw), verbose=False)
    with pytest.raises(TrainingInterrupted, match="--resume"):
        medtrain.train(fast_config(tiny_npz, tmp_path / "cut", **kw), verbose=False, callbacks=[InterruptAt(1)])
    assert not (tmp_path / "cut" / "metrics.json").exists()
    # the epoch in progress (1) is lost, the finished one is kept
    assert torch.load(tmp_path / "cut" / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 0
    medtrain.train({"progress": False}, resume=tmp_path / "cut", verbose=False)
    _same_run(tmp_path / "straight", tmp_path / "cut")


class SlowEpochs(pl.Callback):
    def __init__(self, seconds):
        self.seconds = seconds

    def on_train_epoch_start(self, trainer, pl_module):
        time.sleep(self.seconds)


@pytest.fixture(scope="module")
def cut_run(tmp_path_factory):
    """(run, seconds its call took, torch threads it ran with): a run of SHORT epochs on tiny_npz's data, started
    as ``medtrain train --first-call`` and cut by Ctrl-C in epoch 2 (epochs 0 and 1, each slowed to >= 1 s, are in
    last.ckpt). Shared by the tests of what a resume records or refuses (each had trained this cut run itself);
    :func:`_copy` it before resuming or damaging it."""
    root = tmp_path_factory.mktemp("cut")
    data = make_npz(root / "tiny.npz")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(sys, "argv", ["medtrain", "train", "--first-call"])
        t = time.perf_counter()
        with pytest.raises(TrainingInterrupted, match="--resume"):
            medtrain.train(fast_config(data, root / "cut", epochs=SHORT), verbose=False,
                           callbacks=[SlowEpochs(1.0), InterruptAt(2)])
        first = time.perf_counter() - t
    return root / "cut", first, torch.get_num_threads()


def _copy(cut_run, tmp_path):
    """A copy of the shared cut run in ``tmp_path / "cut"`` (a moved run resumes as it would have in place)."""
    return shutil.copytree(cut_run[0], tmp_path / "cut")


def test_wall_time_of_a_resumed_run_counts_the_time_before_the_interrupt(cut_run, tmp_path):
    # compare's and the summary's wall time of a resumed run had been the last call's alone
    _copy(cut_run, tmp_path)
    first = cut_run[1]  # epochs 0 and 1 took >= 1 s each, then Ctrl-C
    t = time.perf_counter()
    m = medtrain.train({"progress": False}, resume=tmp_path / "cut", verbose=False)
    second = time.perf_counter() - t
    assert 2.0 <= m["wall_s_before_resume"] <= first  # up to the last checkpoint, after epoch 1
    assert m["wall_s_before_resume"] < m["wall_s"] <= m["wall_s_before_resume"] + second
    assert json.loads((tmp_path / "cut" / "metrics.json").read_text())["wall_s"] == m["wall_s"]


def test_a_resumed_run_records_the_call_it_started_with_and_warns_of_another_thread_count(cut_run, tmp_path,
                                                                                            monkeypatch):
    """A resumed run's provenance had described only the call that finished it: the first call's command line and
    torch threads (which decide its numbers) are kept, and resuming with other threads is warned of."""
    from medtrain.training.callbacks import ResumedElsewhereWarning

    _copy(cut_run, tmp_path)  # started as `medtrain train --first-call`
    threads = cut_run[2]
    assert threads == torch.get_num_threads()
    monkeypatch.setattr(sys, "argv", ["medtrain", "train", "--resume", "cut"])
    torch.set_num_threads(threads + 1)
    try:
        with pytest.warns(ResumedElsewhereWarning, match=f"started with {threads}"):
            m = medtrain.train({"progress": False}, resume=tmp_path / "cut", verbose=False)
    finally:
        torch.set_num_threads(threads)
    prov = m["provenance"]
    assert prov["first_call"] == {"argv": ["medtrain", "train", "--first-call"], "torch_threads": threads}
    assert prov["argv"] == ["medtrain", "train", "--resume", "cut"] and prov["torch_threads"] == threads + 1


@pytest.mark.parametrize("kept", ["wall time only", "nothing"])
def test_a_checkpoint_of_an_older_medtrain_resumes_with_its_first_call_unknown(cut_run, tmp_path, monkeypatch,
                                                                             kept):
    """Checkpoints of older versions carry no first call (and the oldest no wall time): the resumed run's
    provenance had named the resuming command as the one that started it, and its wall_s had been this call's
    alone without a word. Both are unknown (null) now."""
    _copy(cut_run, tmp_path)  # started as `medtrain train --first-call`
    last = tmp_path / "cut" / "checkpoints" / "last.ckpt"
    state = torch.load(last, map_location="cpu", weights_only=True)
    key = next(k for k in state["callbacks"] if "WallTime" in k)
    if kept == "nothing":
        del state["callbacks"][key]
    else:
        del state["callbacks"][key]["first"]
    torch.save(state, last)
    monkeypatch.setattr(sys, "argv", ["medtrain", "train", "--resume", "cut"])
    m = medtrain.train({"progress": False}, resume=tmp_path / "cut", verbose=False)
    assert m["provenance"]["first_call"] is None and m["provenance"]["argv"] == ["medtrain", "train", "--resume", "cut"]
    if kept == "nothing":
        assert m["wall_s_before_resume"] is None and m["wall_s"] > 0
    else:
        assert m["wall_s_before_resume"] > 0


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """(run, its data): a 2-epoch run on tiny_npz's data stopped by Ctrl-C while writing its outputs (in its report):
    its weights and checkpoints are written, its metrics.json is not. Shared by the two tests of such a run (each had
    trained it); :func:`_copy_stopped` it before using it."""
    from medtrain import rundir

    def stop(*a, **k):
        raise KeyboardInterrupt

    root = tmp_path_factory.mktemp("stopped")
    data = make_npz(root / "tiny.npz")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(rundir, "write_report", stop)
        with pytest.raises(KeyboardInterrupt):
            medtrain.train(fast_config(data, root / "run", epochs=2), verbose=False)
    return root / "run", data


def _copy_stopped(stopped_run, tmp_path):
    return shutil.copytree(stopped_run[0], tmp_path / "run"), stopped_run[1]


def test_a_run_stopped_while_writing_its_outputs_is_unfinished_and_resume_completes_it(stopped_run, tmp_path):
    # metrics.json had been written before the plots and the report: a run stopped there looked finished,
    # without its report, and `--resume` said "nothing to resume"
    from medtrain import rundir

    run, _ = _copy_stopped(stopped_run, tmp_path)
    assert (run / "model.safetensors").exists() and not rundir.is_finished(run)
    with pytest.raises(medtrain.MedtrainError, match="did not finish"):  # its weights are not handed out as final
        medtrain.load(run)
    m = medtrain.train({"progress": False}, resume=run, verbose=False)
    assert (run / "report.html").exists() and rundir.is_finished(run) and len(m["history"]) == 2
    # the experiment log keeps both epochs (Lightning's CSV logger had started it afresh and nothing refilled it)
    rows = list(csv.DictReader((run / "logs" / "csv" / "metrics.csv").open()))
    assert [int(float(r["epoch"])) for r in rows] == [0, 1]
    assert medtrain.load(run).predict(np.zeros((1, 16, 16), np.uint8)) is not None


def test_same_seed_gives_the_same_run(tiny_npz, tmp_path):
    # no bootstrap: the compared validation loss does not depend on it (50 resamples a run had been scored)
    a = medtrain.train(fast_config(tiny_npz, tmp_path / "a", bootstrap=0), verbose=False)
    b = medtrain.train(fast_config(tiny_npz, tmp_path / "b", bootstrap=0), verbose=False)
    assert a["history"][-1]["val_loss"] == b["history"][-1]["val_loss"]


@pytest.mark.slow
def test_killed_process_resumes_from_its_last_epoch(tiny_npz, tmp_path):
    """SIGKILL mid-run (no chance to clean up), then `medtrain train --resume` finishes the run."""
    # 3 epochs, killed as soon as the first is checkpointed (polled): two epochs and the outputs still to go leave
    # the kill ample time, and the resume and the reference run train 2 and 3 epochs (6 epochs had made it 4 and 6)
    args = ["--data", str(tiny_npz), "--model", "resnet10_28_half", "--epochs", "3", "--batch-size", "32",
            "--no-progress", "--bootstrap", "20", "--accelerator", "cpu", "--flip", "true"]  # no pilot runs
    # the subprocess computes with this process's thread count, as the in-process resume and reference run do
    # (float sums differ in the last bits between 1 and 2 threads; under pytest-xdist each worker has one)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(torch.get_num_threads())}
    cut = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-m", "medtrain", "train", *args, "--out", str(cut)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = cut / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if last.exists():
            try:
                if torch.load(last, weights_only=True)["epoch"] >= 0:
                    break
            except Exception:  # noqa: BLE001  (the file may be mid-write; atomic rename makes this rare)
                pass
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be killed (machine too fast for this test)")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and not (cut / "metrics.json").exists()
    # the resume and the uninterrupted reference run in this process: the kill is of the subprocess, and each
    # further `python -m medtrain` had cost an interpreter and a torch import (~4 s)
    assert cli_main(["train", "--resume", str(cut), "--no-progress"]) == 0
    straight = tmp_path / "straight"  # the same settings, uninterrupted
    assert cli_main(["train", *args, "--out", str(straight)]) == 0
    _same_run(straight, cut)


def test_a_run_resumes_through_another_store_but_not_with_other_settings(tiny_npz, tmp_path):
    # a run killed for memory under the in-memory store could not be resumed through the memory-mapped one,
    # though the store changes no number (the same tensors, the same seeded batches)
    from medtrain import config as config_mod
    from medtrain.api import _resume_config
    from medtrain.errors import MedtrainError
    from medtrain.rundir import write_config

    run = tmp_path / "run"
    run.mkdir()
    write_config(run, config_mod.resolve({"data": str(tiny_npz), "store": "memory", "out": str(run)}))
    assert _resume_config(run, {"store": "mmap"}).store == "mmap"
    with pytest.raises(MedtrainError, match="--lr 0.5 differs from the run's"):
        _resume_config(run, {"lr": 0.5})


@pytest.mark.parametrize("damage", ["truncated", "empty", "choices"])
def test_a_damaged_resume_state_is_one_clear_error(cut_run, tmp_path, damage):
    # a cut-short last.ckpt or choices.json had been a 30-60 line traceback
    run = _copy(cut_run, tmp_path)  # any checkpointed epoch is enough to damage
    last = run / "checkpoints" / "last.ckpt"
    if damage == "choices":
        (run / "choices.json").write_text('{"flip": {"cho')
        named = "choices.json"
    else:
        last.write_bytes(last.read_bytes()[: last.stat().st_size // 2] if damage == "truncated" else b"")
        named = "last.ckpt is damaged"
    with pytest.raises(medtrain.MedtrainError, match=named):
        medtrain.train({"progress": False}, resume=run, verbose=False)


def test_a_run_being_trained_is_not_trained_again_by_a_second_process(cut_run, tmp_path):
    # two `train --resume` of one folder had both trained the same epochs, each overwriting the other's files
    from medtrain import rundir

    run = _copy(cut_run, tmp_path)
    before = (run / "checkpoints" / "last.ckpt").read_bytes()
    with rundir.training_lock(run):  # what the other process holds while it trains
        config = (run / "config.yaml").read_bytes()
        with pytest.raises(medtrain.MedtrainError, match=f"being trained by another process .pid {os.getpid()}"):
            medtrain.train({"progress": True}, resume=run, verbose=False)
        assert (run / "checkpoints" / "last.ckpt").read_bytes() == before and run.exists()
        assert (run / "config.yaml").read_bytes() == config  # the refused process wrote nothing
    m = medtrain.train({"progress": False}, resume=run, verbose=False)  # released: it resumes
    assert len(m["history"]) == SHORT


def test_an_unfinished_run_is_no_pretrained_source(stopped_run, tmp_path):
    # eval and predict refuse a run without metrics.json; --pretrained had fine-tuned from it. Stopped while
    # writing its outputs: its weights are written, its checkpoints kept for --resume
    from medtrain import rundir

    run, data = _copy_stopped(stopped_run, tmp_path)
    assert (run / "model.safetensors").is_file() and rundir.has_checkpoint(run) and not rundir.is_finished(run)
    with pytest.raises(medtrain.MedtrainError, match="did not finish"):
        medtrain.train(fast_config(data, tmp_path / "ft", epochs=1, pretrained=str(run)), verbose=False)
    assert not (tmp_path / "ft").exists()


class _InterruptBeforeSave(pl.Callback):
    """Ctrl-C after epoch ``epoch`` (0-based) was validated but before its checkpoint was written (Lightning runs
    the checkpoint callbacks after the others)."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_validation_end(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch and not trainer.sanity_checking:
            raise KeyboardInterrupt


def test_an_interrupt_before_an_epochs_checkpoint_names_the_epoch_resume_continues_from(tiny_npz, tmp_path):
    """A signal between an epoch's validation line and its checkpoint had been said as 'interrupted after epoch
    2', and the resumed run trained epoch 2 again (a logger walkthrough: duplicated points in TensorBoard)."""
    run = tmp_path / "run"
    cfg = fast_config(tiny_npz, run, epochs=3, bootstrap=0)
    with pytest.raises(TrainingInterrupted, match=r"interrupted after epoch 1;"):
        medtrain.train(cfg, verbose=False, callbacks=[_InterruptBeforeSave(1)])
    assert torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["epoch"] == 0


def test_resume_refuses_a_policy_edited_since_the_run_started(tiny_npz, tmp_path):
    """A walkthrough edited its policy YAML between an interrupt and --resume: the last epoch trained with the new
    policy (train loss 0.6821 for 0.6653), and nothing said so."""
    from medtrain.augment.policies import randaugment_policy, save_policy

    policy = save_policy(randaugment_policy(1, 5), tmp_path / "ra.yaml")
    run = tmp_path / "run"
    # 2 epochs cut in epoch 1: the resume trains one (3 had trained one more for the same refusal)
    cfg = {**fast_config(tiny_npz, run, epochs=2, bootstrap=0), "augment": ["flip", str(policy)]}
    with pytest.raises(TrainingInterrupted, match="--resume"):
        medtrain.train(cfg, verbose=False, callbacks=[InterruptAt(1)])
    kept = policy.read_bytes()
    save_policy(randaugment_policy(2, 9), policy)
    with pytest.raises(medtrain.MedtrainError, match=r"the augmentation policy .*ra.yaml changed since .* started"):
        medtrain.train({}, resume=run, verbose=False)
    policy.write_bytes(kept)
    assert medtrain.train({}, resume=run, verbose=False)["stop_epoch"] == 1


def test_a_run_interrupted_after_early_stopping_fired_resumes_without_training_on(tiny_npz, tmp_path, monkeypatch):
    """A run stopped while writing its outputs after its early stopping fired had trained on when resumed (Lightning
    restores the stopper's state but not the Trainer's stop): "epoch 4/12" after an uninterrupted run stopped at 3,
    another history and, with --checkpoint last, other weights. --resume ends with the uninterrupted result."""
    from medtrain import rundir
    from medtrain.training import module as module_mod

    real_auc = module_mod.metrics.auc

    def script_auc():  # validation AUC 0.9 then 0.5: patience 1 stops after epoch 1 (0-based)
        it = iter([0.9, 0.5])
        monkeypatch.setattr(module_mod.metrics, "auc", lambda y, s, task: next(it, None) or real_auc(y, s, task))

    def stop(*a, **k):
        raise KeyboardInterrupt

    kw = dict(epochs=EPOCHS, early_stop="val_auc", patience=1, checkpoint="last", bootstrap=0)
    script_auc()
    a = medtrain.train(fast_config(tiny_npz, tmp_path / "straight", **kw), verbose=False)
    assert a["early_stopped"] and a["stop_epoch"] == 1 and len(a["history"]) == 2
    script_auc()
    run = tmp_path / "cut"
    with monkeypatch.context() as m:  # Ctrl-C after the last epoch's checkpoint, while the outputs are written
        m.setattr(rundir, "write_report", stop)
        with pytest.raises(KeyboardInterrupt):
            medtrain.train(fast_config(tiny_npz, run, **kw), verbose=False)
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 1
    b = medtrain.train({"progress": False}, resume=run, verbose=False)
    assert b["early_stopped"] and b["stop_epoch"] == a["stop_epoch"] and b["best_epoch"] == a["best_epoch"]
    assert [h["val_loss"] for h in b["history"]] == [h["val_loss"] for h in a["history"]]
    wa, wb = load_state(tmp_path / "straight" / "model.safetensors"), load_state(run / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
