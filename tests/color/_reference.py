"""scikit-image reference conversions on channel-first torch tensors, and shared test inputs."""
from __future__ import annotations

import numpy as np
import skimage.color as skc
import torch

FORWARD = {
    "rgb": lambda x: x,
    "hsv": skc.rgb2hsv,
    "yuv": skc.rgb2yuv,
    "lab": skc.rgb2lab,
    "yiq": skc.rgb2yiq,
    "xyz": skc.rgb2xyz,
    "ypbpr": skc.rgb2ypbpr,
    "ycbcr": skc.rgb2ycbcr,
    "hed": skc.rgb2hed,
    "lch": lambda x: skc.lab2lch(skc.rgb2lab(x)),
}

INVERSE = {
    "rgb": lambda x: x,
    "hsv": skc.hsv2rgb,
    "yuv": skc.yuv2rgb,
    "lab": skc.lab2rgb,
    "yiq": skc.yiq2rgb,
    "xyz": skc.xyz2rgb,
    "ypbpr": skc.ypbpr2rgb,
    "ycbcr": skc.ycbcr2rgb,
    "hed": skc.hed2rgb,
    "lch": lambda x: skc.lab2rgb(skc.lch2lab(x)),
}

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def skimage_apply(fn, images: torch.Tensor) -> torch.Tensor:
    """Run a channel-last scikit-image conversion on ``(*, 3, H, W)`` images; result in input dtype."""
    channel_last = np.moveaxis(images.detach().cpu().numpy(), -3, -1)
    out = np.asarray(fn(channel_last))
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(out, -1, -3))).to(images.dtype)


def random_rgb(shape, dtype=torch.float64, seed: int = 0) -> torch.Tensor:
    """Uniform RGB in [0, 1] with some exactly grey, black and white pixels, where hue is undefined."""
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(shape, generator=g, dtype=torch.float64)
    flat = images.reshape(-1, 3, shape[-2] * shape[-1])
    flat[..., 0:3] = flat[..., 0:1, 0:3]  # grey pixels
    flat[..., 3] = 0.0
    flat[..., 4] = 1.0
    return flat.reshape(shape).to(dtype)
