"""A resumed multi-process run records, and compares with, the torch threads its training processes train with.

Lightning's launcher sets each DDP process's thread count (cores / processes: 1 per process on 2 cores) as
``Trainer.fit`` starts, after medtrain built its callbacks: the first call had recorded the count from before
(2), and a resume warned, once per process, "resumed with 1 torch thread(s); the run started with 2" where
nothing differed (walk W3, ``--accelerator cpu --devices 2`` interrupted and resumed)."""
import warnings
from types import SimpleNamespace

import lightning.pytorch as pl
import pytest
import torch

import medtrain
from medtrain.errors import TrainingInterrupted
from medtrain.training.callbacks import ResumedElsewhereWarning, WallTime
from conftest import InterruptAt, fast_config


@pytest.fixture
def launcher_sets_one_thread(monkeypatch):
    """``Trainer.fit`` sets 1 thread before it trains, as Lightning's launcher does in each DDP process; the
    caller had 3 until then."""
    fit, threads = pl.Trainer.fit, torch.get_num_threads()

    def launched_fit(self, *args, **kwargs):
        torch.set_num_threads(1)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(pl.Trainer, "fit", launched_fit)
    yield lambda: torch.set_num_threads(3)
    torch.set_num_threads(threads)


def test_the_threads_recorded_are_those_training_ran_with_and_the_same_on_resume_warns_nothing(
        tiny_npz, tmp_path, launcher_sets_one_thread):
    launcher_sets_one_thread()
    with pytest.raises(TrainingInterrupted, match="--resume"):
        medtrain.train(fast_config(tiny_npz, tmp_path / "cut", epochs=3), verbose=False, callbacks=[InterruptAt(2)])
    state = torch.load(tmp_path / "cut" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    first = next(v for k, v in state["callbacks"].items() if "WallTime" in k)["first"]
    assert first["torch_threads"] == 1  # had been 3, the count before fit started
    launcher_sets_one_thread()  # the resume's processes train with 1 thread again: nothing differs
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResumedElsewhereWarning)
        m = medtrain.train({"progress": False}, resume=tmp_path / "cut", verbose=False)
    assert m["provenance"]["first_call"]["torch_threads"] == 1 == m["provenance"]["torch_threads"]


@pytest.mark.parametrize("rank", [0, 1])
def test_another_thread_count_on_resume_is_warned_of_by_the_first_process_only(rank):
    """Every process runs the callback: the warning had been printed once per process."""
    wall = WallTime(0.0)
    wall.load_state_dict({"wall_s": 1.0, "first": {"argv": ["medtrain"], "torch_threads": torch.get_num_threads() + 1}})
    trainer = SimpleNamespace(is_global_zero=rank == 0, global_rank=rank, world_size=2)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        wall.on_train_start(trainer, None)
    assert [str(w.message)[:len("resumed with")] for w in said if w.category is ResumedElsewhereWarning] == \
        (["resumed with"] if rank == 0 else [])
