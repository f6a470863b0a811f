"""The rule of a flipping TTA (:func:`medtrain.config.checks.check_tta_flips_trained`) reads which image axes each
TTA flips and each flip op of the augmentation flips: any flip op had counted, so ``--augment vflip,shift --tta
hflip`` (up-down flips in training, left-right ones at test time) and ``--tta flip`` with the default ``--augment
flip,shift`` (never up-down in training) were accepted. The axes are tables in :mod:`medtrain.config.checks`
(config is checked without torch, which :mod:`medtrain.augment` imports); here they are compared with what the TTA's
views and the ops flip."""
from __future__ import annotations

import itertools

import pytest
import torch

from medtrain.augment import build_batch_augment
from medtrain.augment.tta import tta_predict
from medtrain.config import Config
from medtrain.config.checks import (FLIP_OP_AXES, FLIP_OPS, FLIPPED_TTA, TTA_FLIP_AXES, check_tta_flips_trained,
                                    check_typed_for_a_new_run)
from medtrain.config.settings import TTA_MODES
from medtrain.errors import MedtrainError


def flipped_axes(views, x) -> set[int]:
    """The axes (negative) along which some of ``views`` is ``x`` mirrored (a view shifted too matches none)."""
    axes = (-1, -2, -3)[: x.dim() - 2]
    found = set()
    for v in views:
        for n in range(len(axes) + 1):
            for dims in itertools.combinations(axes, n):
                if v.shape == x.shape and torch.equal(v, x.flip(dims) if dims else x):
                    found |= set(dims)
    return found


@pytest.mark.parametrize("mode", [m for m in TTA_MODES if m != "auto"])
def test_the_tta_axes_are_those_its_views_flip(mode):
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
    views = []
    tta_predict(lambda v: views.append(v.clone()) or torch.full((v.shape[0], 2), 0.5), x, mode)
    assert flipped_axes(views, x) == set(TTA_FLIP_AXES.get(mode, ()))
    assert (mode in FLIPPED_TTA) == bool(TTA_FLIP_AXES.get(mode))


@pytest.mark.parametrize("op, shape", [("flip", (2, 1, 6, 6)), ("vflip", (2, 1, 6, 6)), ("3d_flip", (2, 1, 4, 6, 6)),
                                       ("flip", (2, 1, 4, 6, 6)), ("vflip", (2, 1, 4, 6, 6))])
def test_the_op_axes_are_those_the_ops_flip(op, shape):
    x = torch.arange(torch.Size(shape).numel(), dtype=torch.float32).reshape(shape)
    aug = build_batch_augment([op], {"flip_p": 1.0})  # every image flipped along each of its axes
    out, _ = aug(x.clone(), torch.zeros(shape[0], 2))
    assert flipped_axes([out], x) == set(FLIP_OP_AXES[op]) and op in FLIP_OPS


REFUSED = [
    ("flip", "flip,shift", "--tta flip flips the test images vertically too, but --augment flip,shift never flips "
     "vertically: the network would be scored on vertically flipped images it never saw; add vflip to --augment, give "
     "--tta hflip, none or shift, or --flip true to flip at test time only"),
    ("flip-shift", "flip,shift", "--tta flip-shift flips the test images vertically too, but --augment flip,shift "
     "never flips vertically: the network would be scored on vertically flipped images it never saw; add vflip to "
     "--augment, give --tta hflip-shift, none or shift, or --flip true to flip at test time only"),
    ("hflip", "vflip,shift", "--tta hflip flips the test images horizontally, but --augment vflip,shift never flips "
     "horizontally: the network would be scored on horizontally flipped images it never saw; add flip to --augment, "
     "give --tta none or shift, or --flip true to flip at test time only"),
    ("flip", "vflip", "--tta flip flips the test images horizontally too, but --augment vflip never flips "
     "horizontally: the network would be scored on horizontally flipped images it never saw; add flip to --augment, "
     "give --tta none or shift, or --flip true to flip at test time only"),
    ("flip", "shift", "--tta flip flips the test images, but --augment shift has no flip: the network would be scored "
     "on flipped images it never saw; add flip and vflip to --augment, give --tta none or shift, or --flip true to "
     "flip at test time only"),
]


@pytest.mark.parametrize("tta, augment, line", REFUSED)
def test_an_axis_the_tta_flips_that_training_never_flips_is_refused_naming_it(tta, augment, line):
    cfg = Config(tta=tta, flip="auto", augment=tuple(augment.split(",")))
    with pytest.raises(MedtrainError) as refused:
        check_typed_for_a_new_run(cfg, {"tta"})
    assert str(refused.value) == line


@pytest.mark.parametrize("tta, augment", [("hflip", "flip,shift"), ("hflip-shift", "flip"), ("flip", "flip,vflip"),
                                          ("flip-shift", "vflip,shift,flip"), ("flip", "3d_flip"),
                                          ("hflip", "3d_flip"), ("shift", "vflip"), ("auto", "vflip")])
def test_a_tta_whose_axes_training_flips_is_let_through(tta, augment):
    check_tta_flips_trained(Config(tta=tta, flip="auto", augment=tuple(augment.split(","))))


def test_the_default_recipe_and_the_ways_out_are_let_through():
    check_typed_for_a_new_run(Config(), None)  # augment flip,shift; tta auto
    for over in ({"flip": "true"}, {"transfer": "linear-probe", "pretrained": "x"}):
        check_typed_for_a_new_run(Config(**{"tta": "flip", "flip": "auto", "augment": ("flip", "shift"), **over}),
                                  None)
