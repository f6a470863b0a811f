"""How many images an evaluation pass (validation during training, :func:`medtrain.evaluation.predict`) takes at a
time: 256 at MedMNIST's 28 and 64 px (and 28^3, 64^3 voxels), fewer for larger inputs, so that an evaluation batch
never holds more pixels than those did. In the evaluation package, which training imports (not the other way)."""
from __future__ import annotations

import math

from torch import Tensor


#: the most images an evaluation pass takes at a time (what every evaluation batch had been)
EVAL_BATCH = 256
#: the most input pixels (voxels) an evaluation batch holds: a 256-image batch at 64x64 (2D) or 64^3 (3D), the
#: largest MedMNIST inputs evaluated 256 at a time before. Memory scales with them: the default 2D network
#: (resnet18_28_half) keeps 64 channels at full resolution, its largest activation 64 floats a pixel (1.05 MB
#: a 64-px image, 67 MB a 512-px one: 256 of those had needed ~21 GB); the default 3D one (med3d_resnet10)
#: halves the resolution first, 8 floats a voxel (8.4 MB a 64^3 volume).
EVAL_PIXELS = {2: 256 * 64 ** 2, 3: 256 * 64 ** 3}


def eval_batch(batch_size: int, images: Tensor) -> int:
    """Images per evaluation batch of ``images`` (N, C, H, W) or (N, C, D, H, W): :data:`EVAL_BATCH`, fewer where
    that many would hold more pixels than :data:`EVAL_PIXELS`, never fewer than ``batch_size`` (the training
    batch, which fit with its gradients) nor than 1. 28 and 64 px, 28^3 and 64^3: 256; 128 px: 64; 224 px: 20;
    512 px: 4; 128^3: 32. Predictions do not depend on it (the network is in eval mode)."""
    return max(batch_size, batch_for(tuple(images.shape[2:])))


def batch_for(spatial: tuple) -> int:
    """Inputs of ``spatial`` shape ((H, W) or (D, H, W)) per evaluation batch by :data:`EVAL_PIXELS` alone, at least
    1, at most :data:`EVAL_BATCH`: what :func:`eval_batch` gives with no training batch, and ``medtrain predict``'s
    default."""
    budget = EVAL_PIXELS[3 if len(spatial) >= 3 else 2]
    return max(1, min(EVAL_BATCH, budget // max(math.prod(spatial), 1)))


def eval_batches(images: Tensor, batch_size: int = 1) -> tuple[Tensor, ...]:
    """``images`` in evaluation batches of :func:`eval_batch` images, in order."""
    return images.split(eval_batch(batch_size, images))
