"""Colour-space dispatch by name: ``convert(images, "lab")`` and back, as ColorNet feeds its branches.

Every space is computed in scikit-image's units (see each module); RGB is the identity.

References:
    Gowda & Yuan, "ColorNet: Investigating the importance of color spaces for image classification",
    ACCV 2018.
"""
from __future__ import annotations

from typing import Callable

from torch import Tensor

from medtrain.color._utils import check_image
from medtrain.color.hed import hed_to_rgb, rgb_to_hed
from medtrain.color.hsv import hsv_to_rgb, rgb_to_hsv
from medtrain.color.lab import lab_to_rgb, rgb_to_lab
from medtrain.color.lch import lch_to_rgb, rgb_to_lch
from medtrain.color.xyz import rgb_to_xyz, xyz_to_rgb
from medtrain.color.ycbcr import rgb_to_ycbcr, ycbcr_to_rgb
from medtrain.color.yiq import rgb_to_yiq, yiq_to_rgb
from medtrain.color.ypbpr import rgb_to_ypbpr, ypbpr_to_rgb
from medtrain.color.yuv import rgb_to_yuv, yuv_to_rgb
from medtrain.errors import MedtrainError, suggest

_Op = Callable[[Tensor], Tensor]


def _identity(image: Tensor) -> Tensor:
    return check_image(image)


_CONVERSIONS: dict[str, tuple[_Op, _Op]] = {
    "rgb": (_identity, _identity),
    "hsv": (rgb_to_hsv, hsv_to_rgb),
    "yuv": (rgb_to_yuv, yuv_to_rgb),
    "lab": (rgb_to_lab, lab_to_rgb),
    "yiq": (rgb_to_yiq, yiq_to_rgb),
    "xyz": (rgb_to_xyz, xyz_to_rgb),
    "ypbpr": (rgb_to_ypbpr, ypbpr_to_rgb),
    "ycbcr": (rgb_to_ycbcr, ycbcr_to_rgb),
    "hed": (rgb_to_hed, hed_to_rgb),
    "lch": (rgb_to_lch, lch_to_rgb),
}

SPACES: tuple[str, ...] = tuple(_CONVERSIONS)
"""Names accepted by :func:`convert`, lower case; ``"rgb"`` is the identity."""


def resolve_space(space: str) -> str:
    """Return the canonical (lower-case) name of ``space``, or raise a did-you-mean error.

    Raises:
        MedtrainError: If ``space`` is not one of :data:`SPACES` (case-insensitive).
    """
    if not isinstance(space, str):
        raise MedtrainError(f"colour space must be a string, got {type(space).__name__}")
    name = space.strip().lower()
    if name not in _CONVERSIONS:
        raise suggest(space, SPACES, "colour space")
    return name


def convert(images: Tensor, space: str) -> Tensor:
    """Convert RGB images to ``space``, in the units scikit-image uses for it.

    Args:
        images: RGB, floating point, in [0, 1], shaped ``(*, 3, H, W)``, on any device.
        space: One of :data:`SPACES` (case-insensitive).

    Returns:
        The images in ``space``, same shape, dtype and device. ``"rgb"`` returns ``images`` itself.

    Raises:
        MedtrainError: If ``space`` is unknown, or ``images`` is not floating point or not shaped
            ``(*, 3, H, W)``.
    """
    return _CONVERSIONS[resolve_space(space)][0](images)


def convert_inverse(images: Tensor, space: str) -> Tensor:
    """Convert images in ``space`` (scikit-image units) back to RGB.

    XYZ, LAB, LCh and HED come back clipped to [0, 1], like scikit-image's inverses; the other
    inverses are linear and unclipped (or, for HSV, in range by construction).

    Args:
        images: Images in ``space``, floating point, shaped ``(*, 3, H, W)``.
        space: One of :data:`SPACES` (case-insensitive).

    Returns:
        RGB images, same shape, dtype and device.

    Raises:
        MedtrainError: If ``space`` is unknown, or ``images`` is not floating point or not shaped
            ``(*, 3, H, W)``.
    """
    return _CONVERSIONS[resolve_space(space)][1](images)
