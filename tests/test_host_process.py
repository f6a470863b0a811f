"""medtrain's Python API in one long-lived process (a notebook, a script that trains several runs): what the
caller's process was doing before, and does after, neither changes a run nor is changed by it."""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

import medtrain
from conftest import fast_config
from medtrain import provenance
from medtrain.errors import MedtrainError, TrainingInterrupted
from medtrain.training import checkpoint_io
from medtrain.training.checkpoint_io import AtomicCheckpointIO

pytestmark = pytest.mark.usefixtures("one_thread")


def _interrupted_zip_writer(real_save):
    """torch.save as Ctrl-C leaves it: the KeyboardInterrupt lands while the zip is written, and the zip
    writer's clean-up then fails on the half-written file while that interrupt is handled."""
    def save(obj, f, *args, **kw):
        try:
            f.write(b"PK\x03\x04 half a checkpoint")
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 2293248 vs 2293144")
    return save


def test_ctrl_c_while_a_checkpoint_is_saved_is_an_interrupt_and_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"epoch": 0}, path)
    before = path.read_bytes()
    monkeypatch.setattr(checkpoint_io.torch, "save", _interrupted_zip_writer(torch.save))
    with pytest.raises(KeyboardInterrupt):
        AtomicCheckpointIO().save_checkpoint({"epoch": 1}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no temporary file left


def test_ctrl_c_while_a_checkpoint_is_saved_stops_train_as_an_interrupt(tiny_npz, tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint_io.torch, "save", _interrupted_zip_writer(torch.save))
    out = tmp_path / "run"
    with pytest.raises(TrainingInterrupted, match="--resume"):  # the CLI's exit 130 and resume hint
        medtrain.train(fast_config(tiny_npz, out, epochs=1), verbose=False)
    assert medtrain.rundir.is_run(out) and not medtrain.rundir.has_checkpoint(out)


def test_a_runs_peak_memory_is_its_own_not_the_process_s_before_it(tiny_npz, tmp_path):
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("no /proc/self/clear_refs (not Linux): the peak is the process's, and recorded as such")
    # in a process of its own: a test worker's earlier tests leave it a resident set and a peak of their own
    # (2.6 GB seen), against which a 500 MB spike says nothing
    code = f"""
import json, resource, sys
import numpy as np
sys.path.insert(0, {str(Path(__file__).parent)!r})
import medtrain
import medtrain.api  # torch and Lightning loaded, as in a notebook that trained before
from conftest import fast_config
big = np.ones(500 * 2**20 // 8)  # 500 MB, every page touched: unrelated work earlier in the notebook
big.sum()
del big
process_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
m = medtrain.train(fast_config({str(tiny_npz)!r}, {str(tmp_path / "run")!r}, epochs=1, bootstrap=0), verbose=False)
print(json.dumps([m["peak_rss_mb"], process_peak, m["peak_rss_scope"]]))
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert p.returncode == 0, p.stderr[-2000:]
    run_peak, process_peak, scope = json.loads(p.stdout.strip().splitlines()[-1])
    assert run_peak < process_peak - 250, (run_peak, process_peak)
    assert scope == "run"


def test_a_peak_that_cannot_be_reset_is_recorded_as_the_process_s(monkeypatch):
    def refused(*a, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(provenance, "open", refused, raising=False)  # a sandbox that refuses clear_refs
    provenance.start_peak_memory()
    assert provenance.peak_rss_scope() == "process"
    assert provenance.device_memory()["peak_rss_scope"] == "process"
    monkeypatch.undo()


class _Broken(pl.Callback):
    def on_train_start(self, trainer, pl_module):
        raise ValueError("the user's callback failed")


def test_an_error_of_any_kind_before_the_first_checkpoint_leaves_no_half_started_run(tiny_npz, tmp_path):
    cfg = fast_config(tiny_npz, tmp_path / "run", epochs=1, bootstrap=0)
    with pytest.raises(ValueError, match="the user's callback failed"):
        medtrain.train(cfg, verbose=False, callbacks=[_Broken()])
    assert not (tmp_path / "run").exists()
    medtrain.train(cfg, verbose=False)  # the same call again: not refused as "already holds a run"
    assert medtrain.rundir.is_finished(tmp_path / "run")


@pytest.fixture
def float64_default():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def test_train_works_under_a_callers_float64_default_and_keeps_it(tiny_npz, tmp_path, float64_default):
    m = medtrain.train(fast_config(tiny_npz, tmp_path / "run", epochs=1, bootstrap=0, precision="auto"),
                       verbose=False)
    assert m["test"]["auc"] > 0
    assert torch.get_default_dtype() == torch.float64


def test_load_and_predict_work_under_a_callers_float64_default_and_keep_it(trained_run, float64_default):
    run, _, arrays = trained_run
    images = arrays["test_images"][:5, None]
    probs = medtrain.load(run).predict(images)
    assert probs.shape == (5, 2) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert torch.get_default_dtype() == torch.float64
    torch.set_default_dtype(torch.float32)
    assert np.allclose(medtrain.load(run).predict(images), probs, atol=1e-6)  # the same as under float32


def _seed():
    random.seed(7)
    np.random.seed(7)
    torch.manual_seed(7)


def _draws():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_load_and_evaluate_leave_the_callers_random_generators_as_they_were(trained_run, tmp_path):
    run, _, _ = trained_run
    copy = tmp_path / "run"  # evaluate writes eval_test.json: into a copy, not the shared run
    shutil.copytree(run, copy)
    _seed()
    expected = _draws()
    for call in (lambda: medtrain.load(run), lambda: medtrain.load(run).predict(np.zeros((2, 1, 16, 16), np.uint8)),
                 lambda: medtrain.evaluate(copy, verbose=False)):
        _seed()
        call()
        assert _draws() == expected


def test_an_output_folder_that_is_a_file_is_one_error_line(tiny_npz, tmp_path):
    taken = tmp_path / "notes.py"
    taken.write_text("print('mine')\n")
    with pytest.raises(MedtrainError, match="exists and is not a folder"):
        medtrain.train(fast_config(tiny_npz, taken), verbose=False)
    assert taken.read_text() == "print('mine')\n"


@pytest.mark.parametrize("config", [["data"], 5])
def test_settings_of_the_wrong_kind_are_one_error_line(config, tmp_path):
    with pytest.raises(MedtrainError, match="dict of settings"):
        medtrain.train(config, verbose=False)
    with pytest.raises(MedtrainError, match="dict of the settings"):
        medtrain.train(config, resume=tmp_path, verbose=False)


@pytest.mark.parametrize("images", [None, 5])
def test_predict_of_no_images_says_what_it_takes(trained_run, images):
    with pytest.raises(MedtrainError, match="predict takes images"):
        medtrain.load(trained_run[0]).predict(images)
