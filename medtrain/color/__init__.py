"""Colour-space conversion of input images, as in ColorNet.

ColorNet (Gowda & Yuan, ACCV 2018) feeds the same image to a classifier in several colour spaces. This
package converts float RGB batches ``(*, 3, H, W)`` in [0, 1] to each space and back, on any device,
differentiably, in float32 or float64, with values equal to scikit-image's to 1e-4 in each space's own
units (:mod:`medtrain.color.hsv`, ``yuv``, ``lab``, ``yiq``, ``xyz``, ``ypbpr``, ``ycbcr``, ``hed``,
``lch``).

Hue is an angle and is kept in scikit-image's units as-is: HSV hue is a fraction of a turn in [0, 1),
LCh hue is in radians in [0, 2*pi). HSV hue is 0 where it is undefined (grey pixels, R = G = B); LCh hue is 0
only where a* = b* = 0 exactly, which the conversion of a grey 8-bit pixel seldom gives (its a*, b* are rounding
residues of ~1e-5), so a grey pixel's LCh hue is an arbitrary angle (2.0-2.1 rad for 255 of the 256 grey levels,
as scikit-image gives) and one level of colour swings it across the circle: under ``lch`` a grey background's hue
channel is noise, which its chroma (near 0) marks. Both hues are treated as linear values by
:func:`fit_channel_stats`.

Typical use::

    stats = fit_channel_stats(train_images_uint8, "lab")
    to_lab = ColorSpace("lab", stats)      # converts and standardises each channel
    logits = model(to_lab(batch))
"""
from __future__ import annotations

from medtrain.color.convert import SPACES, convert, convert_inverse, resolve_space
from medtrain.color.hed import HedToRgb, RgbToHed, hed_to_rgb, rgb_to_hed
from medtrain.color.hsv import HsvToRgb, RgbToHsv, hsv_to_rgb, rgb_to_hsv
from medtrain.color.lab import LabToRgb, RgbToLab, lab_to_rgb, lab_to_xyz, rgb_to_lab, xyz_to_lab
from medtrain.color.lch import LchToRgb, RgbToLch, lab_to_lch, lch_to_lab, lch_to_rgb, rgb_to_lch
from medtrain.color.space import ColorSpace
from medtrain.color.stats import MIN_STD, ChannelStats, channel_stats, fit_channel_stats, safe_std
from medtrain.color.xyz import RgbToXyz, XyzToRgb, rgb_to_xyz, xyz_to_rgb
from medtrain.color.ycbcr import RgbToYcbcr, YcbcrToRgb, rgb_to_ycbcr, ycbcr_to_rgb
from medtrain.color.yiq import RgbToYiq, YiqToRgb, rgb_to_yiq, yiq_to_rgb
from medtrain.color.ypbpr import RgbToYpbpr, YpbprToRgb, rgb_to_ypbpr, ypbpr_to_rgb
from medtrain.color.yuv import RgbToYuv, YuvToRgb, rgb_to_yuv, yuv_to_rgb

__all__ = [
    "SPACES", "ColorSpace", "convert", "convert_inverse", "resolve_space",
    "ChannelStats", "fit_channel_stats", "channel_stats", "safe_std", "MIN_STD",
    "rgb_to_hsv", "hsv_to_rgb", "RgbToHsv", "HsvToRgb",
    "rgb_to_yuv", "yuv_to_rgb", "RgbToYuv", "YuvToRgb",
    "rgb_to_lab", "lab_to_rgb", "xyz_to_lab", "lab_to_xyz", "RgbToLab", "LabToRgb",
    "rgb_to_yiq", "yiq_to_rgb", "RgbToYiq", "YiqToRgb",
    "rgb_to_xyz", "xyz_to_rgb", "RgbToXyz", "XyzToRgb",
    "rgb_to_ypbpr", "ypbpr_to_rgb", "RgbToYpbpr", "YpbprToRgb",
    "rgb_to_ycbcr", "ycbcr_to_rgb", "RgbToYcbcr", "YcbcrToRgb",
    "rgb_to_hed", "hed_to_rgb", "RgbToHed", "HedToRgb",
    "rgb_to_lch", "lch_to_rgb", "lab_to_lch", "lch_to_lab", "RgbToLch", "LchToRgb",
]
