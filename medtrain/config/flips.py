"""The rule of a flipping test-time augmentation: with ``flip: auto``, a TTA that flips the test images
(:data:`TTA_FLIP_AXES`) is refused where the augmentation never flips an axis it flips (:func:`trained_flip_axes`:
the flip ops' axes, none with ``flip_p`` 0, and what a rotation's half-turn turns a flip of one axis of its plane
into), since the network would be scored on images flipped as it never saw (:func:`check_tta_flips_trained`).
``flip: true`` flips the test images anyway; a linear probe trains no augmentation. The tables are here, not read
from :mod:`medtrain.augment` (which imports torch); the one rule ``train``'s typed checks
(:func:`medtrain.config.checks.check_typed_for_a_new_run`), its flip choices (:mod:`medtrain.training.choices`),
``tune``'s space checks and ``augment`` read."""
from __future__ import annotations

from medtrain.config.settings import Config
from medtrain.errors import MedtrainError

#: The image axes each test-time augmentation that flips mirrors (:func:`medtrain.augment.tta.tta_predict`'s views:
#: ``hflip`` the last axis, left-right; ``flip`` the last two, up-down too; a ``-shift`` mode as its flips).
TTA_FLIP_AXES = {"hflip": (-1,), "flip": (-1, -2), "hflip-shift": (-1,), "flip-shift": (-1, -2)}
#: The image axes each flip op mirrors, with probability ``flip_p`` (``flip``: the last, left-right; ``vflip``: up-down;
#: ``3d_flip``: depth, height, width). The tables here, not read from :mod:`medtrain.augment` (which imports torch):
#: tests/config/test_flip_axes.py compares them with what the TTA's views and the ops flip.
FLIP_OP_AXES = {"flip": (-1,), "vflip": (-2,), "3d_flip": (-3, -2, -1)}
#: The planes each rotation op half-turns at times (``rot90``: height-width, k in {0..3}, {0, 2} if not square;
#: ``3d_rot90``: one of three, with probability ``rot90_p``). A half-turn flips both axes of its plane: with a flip of
#: one of them it flips the other alone (``--augment flip,rot90`` flips up-down too).
ROTATION_PLANES = {"rot90": ((-2, -1),), "3d_rot90": ((-2, -1), (-3, -1), (-3, -2))}
#: Test-time augmentations that flip the images (what ``flip: false`` says is off).
FLIPPED_TTA = tuple(TTA_FLIP_AXES)
#: Augmentation ops that mirror an image (2D horizontal/vertical, 3D); here, beside :data:`FLIPPED_TTA`, for
#: :func:`check_tta_flips_trained`, which the settings typed are checked with (training's flip choices read it here).
FLIP_OPS = tuple(FLIP_OP_AXES)
#: The settings :func:`check_tta_flips_trained` reads (a search varying any of them checks their combinations).
FLIP_RULE_KEYS = ("flip", "tta", "augment", "augment_params", "transfer")
_AXIS_WORD = {-1: "horizontally", -2: "vertically"}
_P_OF = {"flip": "flip_p", "vflip": "flip_p", "3d_flip": "flip_p", "3d_rot90": "rot90_p"}  # as the ops read them


def _never(op: str, augment_params: dict) -> bool:  # its probability 0: it flips (turns) nothing
    p = (augment_params or {}).get(_P_OF.get(op, ""), 0.5)
    return isinstance(p, (int, float)) and not isinstance(p, bool) and p == 0


def trained_flip_axes(augment, augment_params=None) -> set:
    """The axes (negative) along which ``augment`` with ``augment_params`` flips an image alone at times: its flip
    ops' (:data:`FLIP_OP_AXES`; none with ``flip_p`` 0), and with a rotation's half-turns (:data:`ROTATION_PLANES`;
    none with ``rot90_p`` 0) the other axis of a plane one of them is in. What the rule of a flipping TTA
    (:func:`check_tta_flips_trained`) and ``tta: auto`` (:func:`medtrain.training.choices.decide_tta`) read."""
    axes = {a for op in augment if op in FLIP_OP_AXES and not _never(op, augment_params) for a in FLIP_OP_AXES[op]}
    planes = [pl for op in augment if op in ROTATION_PLANES and not _never(op, augment_params)
              for pl in ROTATION_PLANES[op]]
    while True:
        more = {a for pl in planes if axes & set(pl) for a in pl} - axes
        if not more:
            return axes
        axes |= more


def flips_turned_off(augment, augment_params=None) -> bool:
    """Whether ``augment`` names a flip op that ``flip_p`` 0 in ``augment_params`` keeps from flipping."""
    return any(op in FLIP_OP_AXES and _never(op, augment_params) for op in augment)


def _either(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def check_tta_flips_trained(c: Config) -> None:
    """Refuse ``flip: auto`` with a TTA that flips (:data:`TTA_FLIP_AXES`) an axis the augmentation never flips
    (:func:`trained_flip_axes`): the network would be scored on images flipped as it never saw (``--tta flip`` with
    ``--augment flip,shift``; ``flip,rot90,shift`` flips up-down too), as with ``flip: false``; ``flip: true`` flips
    the test images anyway; a linear probe trains no augmentation. The one rule
    :func:`medtrain.config.checks.check_typed_for_a_new_run` (a search's values, before any trial),
    :func:`medtrain.training.choices.tta_keeps_flips` and ``train`` ask."""
    if c.flip != "auto" or c.tta not in TTA_FLIP_AXES or c.transfer == "linear-probe":
        return
    trained = trained_flip_axes(c.augment, c.augment_params)
    missing = [axis for axis in TTA_FLIP_AXES[c.tta] if axis not in trained]
    if not missing:
        return
    shifted = c.tta.endswith("shift")
    others = [m for m, axes in TTA_FLIP_AXES.items() if m.endswith("shift") == shifted and set(axes) <= trained]
    augment, how = ",".join(c.augment), " and ".join(_AXIS_WORD[a] for a in missing)
    if trained:
        too = " too" if len(missing) < len(TTA_FLIP_AXES[c.tta]) else ""
        said = f" {how}{too}, but --augment {augment} never flips {how}: the network would be scored on {how}"
    else:
        off = flips_turned_off(c.augment, c.augment_params)
        said = (f", but --augment {augment} {'flips nothing with flip_p 0' if off else 'has no flip'}: the network "
                "would be scored on")
    raise MedtrainError(f"--tta {c.tta} flips the test images{said} flipped images it never saw; {_train_them(c)}, "
                        f"give --tta {_either([*others, 'none', 'shift'])}, or --flip true to flip the test images "
                        "anyway")


def _train_them(c: Config) -> str:
    """The fewest flip ops to add (and flip_p above 0 where it is 0) that train every axis the TTA flips."""
    from itertools import combinations

    off = flips_turned_off(c.augment, c.augment_params)
    params = {k: v for k, v in c.augment_params.items() if not (off and k == "flip_p")}
    ops = [op for op in ("flip", "vflip") if op not in c.augment]
    add = " and ".join(next((m for n in range(len(ops) + 1) for m in combinations(ops, n)
                             if set(TTA_FLIP_AXES[c.tta]) <= trained_flip_axes((*c.augment, *m), params)), ops))
    p = "flip_p above 0 to --augment-params" if off else ""
    return f"add {add} to --augment{' and ' + p if p else ''}" if add else f"add {p}"
