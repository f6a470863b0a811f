"""Images larger than MedMNIST's 28 px: the default network's cost said up front, a long run's projected time said
early, and a run out of memory ended in one line.

Found in a walkthrough with a researcher's own 64-512 px images: ``--model auto`` keeps the 28-px stem at any size
(7.43 GMACs per 224-px image, 4.1x a standard ResNet-18), a default run on 300 such images ran past 10 minutes with
nothing said but its header, and a 512-px run died at its first batch with a 173-line traceback.
"""
from types import SimpleNamespace

from PIL import Image

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import EarlyStopping
from timm.models.resnet import ResNet
from torch.utils.flop_counter import FlopCounterMode

import medtrain
from medtrain import api
from medtrain._train_inputs import _as_config
from medtrain.config import Config
from medtrain.config.checks import check_typed_for_a_new_run
from medtrain.errors import MedtrainError
from medtrain.models import create_model
from medtrain.models.cost import count_cost
from medtrain.training.estimate import RunEstimate
from medtrain.models.cost import macs_per_image
from medtrain.training.fit import memory_error, out_of_memory, smaller_images
from conftest import fast_config, make_images, run_cli

CPU_OOM = ("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1073741824 bytes. Error code 12 "
           "(Cannot allocate memory)")


def images_npz(path, size: int, channels: int = 3):
    """A two-class set of ``size``-px images in MedMNIST layout: 16 training, 8 validation, 8 test images."""
    arrays = {}
    for split, n, seed in (("train", 16, 0), ("val", 8, 1), ("test", 8, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, size=size, channels=channels, seed=seed)
    np.savez(path, **arrays)
    return path


class Stop(Exception):
    """Raised in place of training: the notes before it are what is checked."""


def images_folder(root, size: int):
    """Two class folders of 40 RGB ``size``-px PNGs in all."""
    images, labels = make_images(40, size=size, channels=3)
    for i, (image, label) in enumerate(zip(images, labels[:, 0])):
        (root / f"class{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / f"class{label}" / f"{i}.png")
    return root


def notes_before_training(tmp_path, monkeypatch, capsys, size: int, data=None, **over) -> list[str]:
    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(api, "fit", stop)
    data = images_npz(tmp_path / f"px{size}.npz", size) if data is None else data
    with pytest.raises(Stop):
        medtrain.train({"data": str(data), "out": str(tmp_path / "run"), "flip": "true", **over})
    assert not (tmp_path / "run").exists()  # nothing left half-written
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("medtrain: note:")]


def test_the_default_network_on_96px_images_says_its_exact_cost_and_the_way_on(tmp_path, monkeypatch, capsys):
    # the counts as `medtrain cost` makes them, by a real forward pass on the CPU
    own = count_cost(create_model("resnet18_28_half", in_chans=3, num_classes=2, input_size=96), 96, 3).macs
    stock = count_cost(create_model("resnet18", in_chans=3, num_classes=2, input_size=96), 96, 3).macs
    small = count_cost(create_model("resnet18_28_half", in_chans=3, num_classes=2, input_size=28), 28, 3).macs
    notes = notes_before_training(tmp_path, monkeypatch, capsys, 96)
    assert len(notes) == 1, notes
    note = notes[0]
    assert "resnet18_28_half keeps its 28-px stem" in note and "96x96" in note
    assert f"{own / 1e9:.2f} GMACs per image" in note
    assert f"{own / small:.0f}x its cost at 28 px" in note
    assert f"--model resnet18 (a stem that downsamples) costs {stock / 1e9:.2f} GMACs" in note
    # a .npz comes at its size: train refuses --image-size for it, so the note says to resize the arrays
    assert "smaller images (the arrays resized to 64 px before saving) " in note and "--image-size" not in note
    assert stock < own / 3  # the way on is cheaper indeed


def test_the_cost_note_on_a_folder_of_96px_images_gives_an_image_size_train_accepts(tmp_path, monkeypatch, capsys):
    at64 = count_cost(create_model("resnet18_28_half", in_chans=3, num_classes=2, input_size=64), 64, 3).macs
    notes = notes_before_training(tmp_path, monkeypatch, capsys, 96, data=images_folder(tmp_path / "px96", 96))
    assert len(notes) == 1 and "96x96" in notes[0], notes
    assert notes[0].endswith(f"smaller images (--image-size 64) {at64 / 1e9:.2f} GMACs")
    # the way on, taken: its images train at 64 px, no note
    assert notes_before_training(tmp_path, monkeypatch, capsys, 96, data=tmp_path / "px96", image_size=64) == []


def config(**settings) -> Config:
    return _as_config(settings)


# the data's kind and the side of its images -> the size advice (None: no size below theirs to go to)
KINDS = {"a folder": (dict(data="xrays"), (96, 96), "smaller images (--image-size 48)"),
         "a CSV": (dict(data="xrays.csv"), (512, 384), "smaller images (--image-size 256)"),
         "a .npz": (dict(data="px96.npz"), (96, 96), "smaller images (the arrays resized to 48 px before saving)"),
         "MedMNIST at 224": (dict(dataset="pneumoniamnist", size=224), (224, 224), "smaller images (--size 64)"),
         "MedMNIST at 64": (dict(dataset="pneumoniamnist", size=64), (64, 64), "smaller images (--size 28)"),
         "MedMNIST 3D at 64": (dict(dataset="organmnist3d", size=64), (64, 64, 64), "smaller volumes (--size 28)"),
         "volumes": (dict(data="ct.csv"), (64, 64, 64), "smaller volumes (--volume-size 32)"),
         "16-px images": (dict(data="xrays"), (16, 16), None),
         "MedMNIST at 28": (dict(dataset="pneumoniamnist"), (28, 28), None)}


@pytest.mark.parametrize("kind", KINDS)
def test_out_of_memory_says_the_smaller_size_the_data_allow(kind):
    settings, shape, advice = KINDS[kind]
    cfg = config(**settings)
    splits = SimpleNamespace(in_chans=1, spatial_shape=shape)
    line = str(memory_error(RuntimeError(CPU_OOM), cfg, splits, 32))
    what = "volumes" if len(shape) == 3 else "images"
    assert line.startswith(f"out of memory training 1x{'x'.join(map(str, shape))} {what} in batches of 32 (it asked "
                           f"for 1.00 GiB more): train with a smaller --batch-size (e.g. 8)")
    assert line.endswith(f"{advice} or a smaller --model" if advice else "(e.g. 8) or a smaller --model")
    if advice is None:
        assert "size" not in line.split(":", 1)[1].replace("--batch-size", ""), line
        return
    how, side = smaller_images(cfg, shape)
    assert how == advice and side < max(shape)
    if "--" in advice:  # the setting offered is one train takes for these data
        key, value = advice.split("(--", 1)[1].rstrip(")").split()
        key = key.replace("-", "_")
        check_typed_for_a_new_run(config(**{**settings, key: int(value)}), {key})
    else:  # --image-size on a .npz is refused, so it is not offered
        with pytest.raises(MedtrainError, match="applies to image folders and CSVs only"):
            check_typed_for_a_new_run(config(**settings, image_size=side), {"image_size"})


@pytest.mark.parametrize("kind", ["a .npz", "MedMNIST at 224", "volumes", "16-px images"])
def test_a_long_run_says_the_smaller_size_the_data_allow(kind, capsys):
    settings, shape, advice = KINDS[kind]
    clock = Clock()
    smaller = smaller_images(config(**settings), shape)
    estimate = RunEstimate(smaller=smaller and smaller[0], clock=clock)
    epoch(estimate, trainer(batches=100, epochs=30), clock, [2.0] * 100)
    line, = capsys.readouterr().err.splitlines()
    assert line.endswith(f"validation on top; {advice + ', ' if advice else ''}a smaller --model or fewer --epochs "
                         "shortens it")


def test_no_cost_note_at_64px_or_for_a_network_named_otherwise(tmp_path, monkeypatch, capsys):
    assert notes_before_training(tmp_path, monkeypatch, capsys, 64) == []
    assert notes_before_training(tmp_path, monkeypatch, capsys, 96, model="resnet10_28_half") == []


def test_macs_per_image_counts_as_medtrain_cost_for_any_shape():
    net = create_model("resnet18_28_half", in_chans=1, num_classes=3, input_size=64)
    assert macs_per_image("resnet18_28_half", 1, 3, (64, 64)) == count_cost(net, 64, 1).macs
    with FlopCounterMode(display=False) as flops:  # torch's own count of a 96 x 40 image: 2 FLOPs per MAC
        net(torch.zeros(1, 1, 96, 40))
    assert macs_per_image("resnet18_28_half", 1, 3, (96, 40)) == flops.get_total_flops() // 2


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def trainer(batches: int, epochs: int, rank0: bool = True, stopping: bool = False):
    return SimpleNamespace(num_training_batches=batches, max_epochs=epochs, current_epoch=0, is_global_zero=rank0,
                           callbacks=[EarlyStopping(monitor="val_auc")] if stopping else [])


def epoch(estimate, fake, clock, seconds):
    """One training epoch whose batches take ``seconds`` each (a list)."""
    estimate.on_train_epoch_start(fake, None)
    for i, s in enumerate(seconds):
        clock.t += s
        estimate.on_train_batch_end(fake, None, None, None, i)


def test_a_long_run_is_projected_once_from_its_first_batches(capsys):
    clock = Clock()
    estimate, fake = RunEstimate(clock=clock), trainer(batches=100, epochs=30)
    # a first batch of 5 s (warm-up), then 2 s each: projected after 14 batches and 31 s (not after 13 batches and
    # 29 s), from the later half of batches 2-14
    epoch(estimate, fake, clock, [5.0] + [2.0] * 99)
    fake.current_epoch = 1
    epoch(estimate, fake, clock, [2.0] * 100)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    # 31 s so far + 2 s x (30 x 100 - 14) batches left = 6003 s
    assert "projected from its first 14 batches (2.00 s each)" in lines[0]
    assert "the run (30 epochs of 100 batches) take about 1 h 40 min in all" in lines[0]
    # no size is said where none is known to apply (the run gives its own: smaller_images)
    assert lines[0].endswith("validation on top; a smaller --model or fewer --epochs shortens it")


def test_an_epoch_of_few_slow_batches_is_projected_at_its_end_and_early_stopping_says_at_most(capsys):
    clock = Clock()
    estimate = RunEstimate(clock=clock, min_batches=5)
    epoch(estimate, trainer(batches=2, epochs=30, stopping=True), clock, [40.0, 40.0])
    # 80 s + 40 s x 58 batches = 2400 s
    assert "(at most 30 epochs of 2 batches) take about 40 min" in capsys.readouterr().err


@pytest.mark.parametrize("fake, seconds", [(trainer(5, 30), 0.5),  # 75 s in all: nothing to say
                                           (trainer(100, 30, rank0=False), 2.0)])  # said by the first process only
def test_a_short_run_or_another_process_says_nothing(capsys, fake, seconds):
    clock = Clock()
    epoch(RunEstimate(clock=clock), fake, clock, [seconds] * fake.num_training_batches)
    assert capsys.readouterr().err == ""


def test_the_two_flip_pilots_are_projected_together_once(capsys):
    clock = Clock()
    estimate = RunEstimate("the two flip pilots", runs=2, way_on="--flip true or false skips them", clock=clock)
    for _ in range(2):  # each pilot's fit: 3 epochs of 3 batches of 35 s
        fake = trainer(batches=3, epochs=3)
        for e in range(3):
            fake.current_epoch = e
            epoch(estimate, fake, clock, [35.0] * 3)
    lines = capsys.readouterr().err.splitlines()
    # 70 s + 35 s x (9 - 2 + 9) = 630 s
    assert lines == ["medtrain: note: projected from its first 2 batches (35.00 s each), the training steps of the two "
                     "flip pilots (3 epochs of 3 batches, 2 times) take about 10 min in all, validation on top; "
                     "--flip true or false skips them"]


# verbose decides, not progress: a batch job's progress=False with verbose had said the pilots' projection and not
# the run's, and compare's quiet cells (verbose=False) with progress on had said one per cell
@pytest.mark.parametrize("progress, verbose", [(True, True), (False, True), (True, False)])
def test_a_verbose_run_and_its_flip_pilots_project_their_time(tiny_npz, tmp_path, monkeypatch, capsys, progress,
                                                              verbose):
    init = RunEstimate.__init__  # every estimate said, whoever adds it

    monkeypatch.setattr(RunEstimate, "__init__", lambda self, *a, **kw: init(self, *a, **{**kw, "limit_s": -1.0}))
    medtrain.train(fast_config(tiny_npz, tmp_path / "run", epochs=1, flip="auto", progress=progress, bootstrap=0),
                   verbose=verbose)
    said = [line for line in capsys.readouterr().err.splitlines() if "projected" in line]
    assert len(said) == (2 if verbose else 0), said
    if verbose:
        assert "the two flip pilots (1 epoch of 3 batches, 2 times)" in said[0]
        assert "the run (1 epoch of 3 batches)" in said[1]


def raise_on_forward(error):
    def forward(self, x):
        raise error
    return forward


def test_out_of_memory_in_training_is_one_line_and_leaves_no_folder(tiny_npz, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ResNet, "forward", raise_on_forward(RuntimeError(CPU_OOM)))
    out = tmp_path / "run"
    with pytest.raises(MedtrainError) as e:
        medtrain.train(fast_config(tiny_npz, out, epochs=1), verbose=False)
    # 16-px images: no smaller size to offer (--image-size 28 had been, larger than they are and refused for a .npz)
    assert str(e.value) == ("out of memory training 1x16x16 images in batches of 32 (it asked for 1.00 GiB more): "
                            "train with a smaller --batch-size (e.g. 8) or a smaller --model")
    assert not out.exists()
    code, _, err = run_cli(capsys, "train", "--data", tiny_npz, "--out", out, "--epochs", "1", "--flip", "true",
                           "--model", "resnet10_28_half", "--batch-size", "16", "--no-progress")
    assert code == 2
    assert err.strip().splitlines() == [
        "medtrain: error: out of memory training 1x16x16 images in batches of 16 (it asked for 1.00 GiB more): train "
        "with a smaller --batch-size (e.g. 4) or a smaller --model"]
    assert not out.exists()


def test_other_errors_in_training_are_not_called_memory(tiny_npz, tmp_path, monkeypatch):
    monkeypatch.setattr(ResNet, "forward", raise_on_forward(RuntimeError("mat1 and mat2 shapes cannot be multiplied")))
    with pytest.raises(RuntimeError, match="mat1 and mat2"):
        medtrain.train(fast_config(tiny_npz, tmp_path / "run", epochs=1), verbose=False)


def test_a_gpu_out_of_memory_names_the_gpu_and_its_request():
    error = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of "
                                   "79.19 GiB of which 1.10 GiB is free.")
    assert out_of_memory(error) and out_of_memory(MemoryError()) and not out_of_memory(RuntimeError("shape"))
    splits = SimpleNamespace(in_chans=1, spatial_shape=(512, 512))
    assert str(memory_error(error, config(data="xrays"), splits, 64)) == (
        "out of GPU memory training 1x512x512 images in batches of 64 (it asked for 2.00 GiB more): train with a "
        "smaller --batch-size (e.g. 16), smaller images (--image-size 256) or a smaller --model")
