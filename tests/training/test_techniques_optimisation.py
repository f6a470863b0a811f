"""Learning-rate schedules and colour spaces, trained through ``medtrain.train`` on CPU.

Schedules: the learning rate the optimiser held before each of the 4 x epochs steps follows the schedule's
formula. Colour spaces: the training module converts each batch with the space's module (before
normalisation, i.e. in front of the first convolution) and normalises with statistics fitted in that space.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from medtrain import config
from medtrain.color import SPACES, ColorSpace, fit_channel_stats
from technique_helpers import Inspect, LrTrace, train_check

LR, STEPS = 3e-3, 4  # 128 training images in batches of 32
#: the class-weight rule pinned (the balanced loss auto trains with, no shift folded into the bias): these tests
#: are not about its choice, which scores validation three more times a run (tests/training/test_choices.py)
PINNED = dict(class_weights="true")


SCHEDULES = {
    # name: (epochs, expected lr before step t of T)
    "none": (2, lambda t, T: LR),
    "multistep": (4, lambda t, T: LR * 0.1 ** sum(t // STEPS >= m for m in (2, 3))),  # /10 at 50% and 75%
    "cosine": (2, lambda t, T: LR * (1 + math.cos(math.pi * t / T)) / 2),
}


def test_schedules_are_all_covered():
    assert set(SCHEDULES) | {"onecycle"} == set(config.SCHEDULES)


def _colour_seen(trainer, pl_module):
    return pl_module.input_transform, pl_module.mean.flatten().clone(), pl_module.std.flatten().clone(), pl_module


@pytest.fixture(scope="module")
def plain_rgb_run(learnable_rgb_npz, tmp_path_factory):
    """(metrics, LrTrace, what _colour_seen saw) of one run without a schedule in RGB, the colour space that converts
    nothing: the schedule "none" and the colour space "rgb" are both the plain recipe, which each test had trained."""
    trace, seen = LrTrace(), Inspect(_colour_seen)
    m = train_check(learnable_rgb_npz, tmp_path_factory.mktemp("plain") / "run", callbacks=[trace, seen],
                    schedule="none", color_space="rgb", epochs=SCHEDULES["none"][0], lr=LR, **PINNED)
    return m, trace, seen.seen


@pytest.mark.parametrize("name", sorted(SCHEDULES) + ["onecycle"])
def test_schedule_drives_the_optimiser(name, learnable_npz, tmp_path, request):
    epochs = SCHEDULES[name][0] if name in SCHEDULES else 3
    if name == "none":  # 128 training images in RGB too: the same 4 steps an epoch
        m, trace, _ = request.getfixturevalue("plain_rgb_run")
    else:
        trace = LrTrace()
        m = train_check(learnable_npz, tmp_path / "run", callbacks=[trace], schedule=name, epochs=epochs, lr=LR,
                        **PINNED)
    T = epochs * STEPS
    assert len(trace.lrs) == T
    if name == "none":
        assert trace.scheduler_configs == []
    else:
        assert len(trace.scheduler_configs) == 1
    if name in SCHEDULES:
        assert trace.lrs == pytest.approx([SCHEDULES[name][1](t, T) for t in range(T)], rel=1e-6)
        return
    # onecycle (Smith & Topin): from LR/25 up to LR at 20% of the steps, then down to about LR/25e4
    sched = trace.scheduler_configs[0].scheduler
    assert type(sched) is torch.optim.lr_scheduler.OneCycleLR and trace.scheduler_configs[0].interval == "step"
    peak = max(range(T), key=lambda t: trace.lrs[t])
    assert trace.lrs[0] == pytest.approx(LR / 25) and trace.lrs[peak] == pytest.approx(LR, rel=0.02)
    assert peak == pytest.approx(0.2 * T, abs=1)
    assert all(a < b for a, b in zip(trace.lrs[:peak], trace.lrs[1:peak + 1]))
    assert all(a > b for a, b in zip(trace.lrs[peak:-1], trace.lrs[peak + 1:]))
    # and the run ends at the end of its cycle, LR / 25 / 1e4 (what a 2-process run must end at too:
    # tests/training/test_distributed.py)
    assert m["history"][-1]["lr"] == pytest.approx(LR / 25 / 1e4, rel=1e-6)



def test_every_colour_space_is_covered():
    assert len(SPACES) == 10


@pytest.mark.parametrize("space", SPACES)
def test_colour_space_is_applied_in_front_of_the_network(space, learnable_rgb_npz, tmp_path, request):
    if space == "rgb":
        transform, mean, std, module = request.getfixturevalue("plain_rgb_run")[2]
    else:
        seen = Inspect(_colour_seen)
        # HED's optical densities turn the dark noisy background into large, noisy values: it needs a faster rate
        fast = dict(lr=1e-2, epochs=3) if space == "hed" else {}
        train_check(learnable_rgb_npz, tmp_path / "run", callbacks=[seen], color_space=space, **PINNED, **fast)
        transform, mean, std, module = seen.seen
    images = torch.from_numpy(np.load(learnable_rgb_npz)["train_images"]).permute(0, 3, 1, 2)
    if space == "rgb":
        assert transform is None
        expected = images.double().div(255).mean((0, 2, 3)).float()
        assert mean == pytest.approx(expected, abs=1e-5)
        return
    assert isinstance(transform, ColorSpace) and transform.space == space
    stats = fit_channel_stats(images, space)
    assert mean.tolist() == pytest.approx(list(stats.mean), rel=1e-5, abs=1e-6)
    assert std.tolist() == pytest.approx(list(stats.safe_std), rel=1e-5, abs=1e-6)
    # the network's input is the converted batch, normalised in that space
    x = images[:4].float() / 255
    with torch.no_grad():
        got = module.cpu().normalise(x.clone())
    want = (transform(x) - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(transform(x), x, atol=1e-3)  # the space really differs from RGB
