"""The rule of a flipping TTA (:func:`medtrain.config.flips.check_tta_flips_trained`) reads which image axes each
TTA flips and each flip op of the augmentation flips: any flip op had counted, so ``--augment vflip,shift --tta
hflip`` (up-down flips in training, left-right ones at test time) and ``--tta flip`` with the default ``--augment
flip,shift`` (never up-down in training) were accepted. The axes are tables in :mod:`medtrain.config.flips`
(config is checked without torch, which :mod:`medtrain.augment` imports); here they are compared with what the TTA's
views and the ops flip."""
from __future__ import annotations

import itertools

import pytest
import torch

from medtrain.augment import build_batch_augment
from medtrain.augment.tta import tta_predict
from medtrain.config import Config
from medtrain.config.checks import check_typed_for_a_new_run
from medtrain.config.flips import (FLIP_OP_AXES, FLIP_OPS, FLIPPED_TTA, TTA_FLIP_AXES, check_tta_flips_trained,
                                   trained_flip_axes)
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
     "--tta hflip, none or shift, or --flip true to flip the test images anyway"),
    ("flip-shift", "flip,shift", "--tta flip-shift flips the test images vertically too, but --augment flip,shift "
     "never flips vertically: the network would be scored on vertically flipped images it never saw; add vflip to "
     "--augment, give --tta hflip-shift, none or shift, or --flip true to flip the test images anyway"),
    ("hflip", "vflip,shift", "--tta hflip flips the test images horizontally, but --augment vflip,shift never flips "
     "horizontally: the network would be scored on horizontally flipped images it never saw; add flip to --augment, "
     "give --tta none or shift, or --flip true to flip the test images anyway"),
    ("flip", "vflip", "--tta flip flips the test images horizontally too, but --augment vflip never flips "
     "horizontally: the network would be scored on horizontally flipped images it never saw; add flip to --augment, "
     "give --tta none or shift, or --flip true to flip the test images anyway"),
    ("flip", "shift", "--tta flip flips the test images, but --augment shift has no flip: the network would be scored "
     "on flipped images it never saw; add flip and vflip to --augment, give --tta none or shift, or --flip true to "
     "flip the test images anyway"),
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


def flipped_alone(outs, x) -> set[int]:
    """The axes along which some of ``outs`` is ``x`` mirrored along that axis alone (a half-turn, which mirrors two,
    counts for none)."""
    return {a for a in (-1, -2, -3)[: x.dim() - 1] if any(torch.equal(o, x.flip(a)) for o in outs)}


@pytest.mark.parametrize("augment, params, shape", [
    (("flip", "rot90"), {}, (1, 6, 6)), (("vflip", "rot90"), {}, (1, 6, 6)),
    (("flip", "rot90"), {}, (1, 6, 8)),  # not square: half-turns only, still up-down with the left-right flip
    (("rot90",), {}, (1, 6, 6)), (("flip", "vflip"), {}, (1, 6, 6)),
    (("flip", "rot90"), {"flip_p": 0}, (1, 6, 6)), (("flip", "vflip"), {"flip_p": 0.0}, (1, 6, 6)),
    (("3d_flip", "3d_rot90"), {"flip_p": 0}, (1, 4, 6, 6)), (("3d_rot90",), {}, (1, 4, 6, 6)),
    (("flip", "3d_rot90"), {}, (1, 4, 6, 6)), (("vflip", "3d_rot90"), {}, (1, 4, 6, 6)),
    (("flip", "3d_rot90"), {"rot90_p": 0}, (1, 4, 6, 6))])
def test_the_axes_counted_are_those_the_real_ops_flip_an_image_along_alone(augment, params, shape):
    # rot90 draws a half-turn (k = 2) a quarter of the time: a half-turn and a left-right flip are an up-down flip
    # (44 of 400 outputs of flip,rot90 here), so --augment flip,rot90,shift trains the views --tta flip scores
    torch.manual_seed(0)
    x = torch.arange(torch.Size(shape).numel(), dtype=torch.float32).reshape(shape)
    batch = x.expand(400, *shape).clone()
    out, _ = build_batch_augment(list(augment), params)(batch, torch.zeros(400, 2))
    assert flipped_alone(out, x) == trained_flip_axes(augment, params)


@pytest.mark.parametrize("tta, augment", [("flip", "flip,rot90,shift"), ("flip-shift", "vflip,rot90"),
                                          ("hflip", "vflip,rot90,shift"), ("flip", "flip,3d_rot90")])
def test_a_rotation_with_a_flip_of_one_axis_trains_the_other_and_is_let_through(tta, augment):
    # the usual histology/dermoscopy recipe had been refused ("never flips vertically")
    check_typed_for_a_new_run(Config(tta=tta, flip="auto", augment=tuple(augment.split(","))), {"tta"})


@pytest.mark.parametrize("tta, augment, params, line", [
    ("hflip", "flip,shift", {"flip_p": 0}, "--tta hflip flips the test images, but --augment flip,shift flips nothing "
     "with flip_p 0: the network would be scored on flipped images it never saw; add flip_p above 0 to "
     "--augment-params, give --tta none or shift, or --flip true to flip the test images anyway"),
    ("flip", "flip,shift", {"flip_p": 0.0}, "--tta flip flips the test images, but --augment flip,shift flips nothing "
     "with flip_p 0: the network would be scored on flipped images it never saw; add vflip to --augment and flip_p "
     "above 0 to --augment-params, give --tta none or shift, or --flip true to flip the test images anyway"),
    ("flip", "rot90,shift", {}, "--tta flip flips the test images, but --augment rot90,shift has no flip: the network "
     "would be scored on flipped images it never saw; add flip to --augment, give --tta none or shift, or --flip true "
     "to flip the test images anyway"),  # one flip op with rot90 trains both axes
    ("flip", "flip,3d_rot90", {"rot90_p": 0}, "--tta flip flips the test images vertically too, but --augment "
     "flip,3d_rot90 never flips vertically: the network would be scored on vertically flipped images it never saw; "
     "add vflip to --augment, give --tta hflip, none or shift, or --flip true to flip the test images anyway")])
def test_ops_that_never_flip_or_turn_count_no_axis(tta, augment, params, line):
    # --augment flip,shift --augment-params flip_p=0 --tta hflip had trained and scored a never-flipped network on flips
    cfg = Config(tta=tta, flip="auto", augment=tuple(augment.split(",")), augment_params=params)
    with pytest.raises(MedtrainError) as refused:
        check_typed_for_a_new_run(cfg, {"augment_params"})
    assert str(refused.value) == line
