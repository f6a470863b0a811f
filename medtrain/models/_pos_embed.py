"""The same network's weights at another input size (:func:`medtrain.models.pretrained.adapt_state_dict`).

* A patch network's (ViT, DeiT) absolute position embedding has one token per patch of its grid, so a
  ViT built at the run's size (timm's ``img_size``, :mod:`medtrain.models.factory`) takes a source trained at
  another size once the embedding is resampled to its grid: timm's own ``resample_abs_pos_embed`` (bicubic on the
  token grid, the class/distillation tokens kept; what timm does when it loads 224 px weights into a 384 px ViT,
  and DeiT's fine-tuning at another resolution, Touvron et al., ICML 2021). Said once as a
  :class:`PositionEmbeddingResampledWarning`.
* A zoo network's stem depends on the input size (:mod:`medtrain.models._small_input`: medtrain's 3x3 stride-1
  stem at 64 px or less, the standard one above): a source with the other stem is the same network at another
  input size, refused naming that (:func:`stem_error`), not as "a different architecture".
"""
from __future__ import annotations

import math
from typing import Optional

from torch import Tensor, nn

from medtrain.errors import MedtrainError


class PositionEmbeddingResampledWarning(UserWarning):
    """A source's position embedding was resampled to the target's patch grid (a ViT at another input size)."""


def _owner(model: nn.Module, key: str) -> nn.Module:
    path = key.rsplit(".", 1)[0] if "." in key else ""
    return model.get_submodule(path) if path else model


def resample_pos_embed(model: nn.Module, key: str, w: Tensor, v: Tensor) -> Optional[tuple[Tensor, str]]:
    """``w``, the source's ``key`` (a ViT's ``pos_embed``, ``(1, prefix + h*w, D)``), resampled to the grid of
    ``model``'s embedding ``v``, and the line that says so; None where ``key`` is no absolute position embedding
    of a patch grid, or where the source's is no square grid of the same width (a different network)."""
    if key.rsplit(".", 1)[-1] != "pos_embed" or w.ndim != 3 or v.ndim != 3 or w.shape[0] != 1 \
            or w.shape[0] != v.shape[0] or w.shape[2] != v.shape[2]:
        return None
    owner = _owner(model, key)
    grid = tuple(getattr(getattr(owner, "patch_embed", None), "grid_size", None) or ())
    if len(grid) != 2:
        return None
    prefix = 0 if getattr(owner, "no_embed_class", False) else int(getattr(owner, "num_prefix_tokens", 1))
    side = math.isqrt(max(w.shape[1] - prefix, 0))
    if v.shape[1] != prefix + grid[0] * grid[1] or side < 1 or side * side != w.shape[1] - prefix:
        return None
    from timm.layers import resample_abs_pos_embed

    out = resample_abs_pos_embed(w, new_size=list(grid), old_size=[side, side], num_prefix_tokens=prefix)
    p = tuple(getattr(owner.patch_embed, "patch_size", None) or ())
    px = f" ({side * p[0]}x{side * p[1]} -> {grid[0] * p[0]}x{grid[1] * p[1]} px)" if len(p) == 2 else ""
    tokens = {0: "", 1: ", the class token kept"}.get(prefix, f", its {prefix} class/distillation tokens kept")
    return out, (f"{side}x{side} -> {grid[0]}x{grid[1]} patches{px}, bicubic{tokens} "
                 f"(timm's resample_abs_pos_embed)")


def stem_error(model: nn.Module, key: str, source: tuple, target: tuple) -> Optional[MedtrainError]:
    """The refusal of a first convolution ``key`` of kernel ``source`` in the source and ``target`` in ``model`` when
    one is medtrain's small-input 3x3 stem and the other the standard stem of the same zoo network (a source
    trained on the other side of 64 px); None otherwise (another network: its usual refusal)."""
    from medtrain.models._zoo import SMALL_INPUT

    name = _zoo_name(model)
    if name is None or len(source) != 4 or len(target) != 4 or source[:2] != target[:2]:
        return None
    ks, kt = tuple(source[2:]), tuple(target[2:])
    if (3, 3) not in (ks, kt) or ks == kt or min(ks + kt) < 3:
        return None
    small_src = ks == (3, 3)
    k = "x".join(map(str, kt if small_src else ks))
    sides = (f"the source has medtrain's small-input 3x3 stem (trained at {SMALL_INPUT} px or less), the target "
             f"{name}'s standard {k} stem (built at more than {SMALL_INPUT} px)" if small_src else
             f"the source has {name}'s standard {k} stem (trained at more than {SMALL_INPUT} px), the target "
             f"medtrain's small-input 3x3 stem (built at {SMALL_INPUT} px or less)")
    works = (f"{SMALL_INPUT} px or less (--image-size {SMALL_INPUT} or less for image folders and CSVs, --size 28 or "
             f"64 for a MedMNIST set)" if small_src else
             f"more than {SMALL_INPUT} px (--image-size {SMALL_INPUT + 1} or more for image folders and CSVs, --size "
             f"128 or 224 for a MedMNIST set)")
    error = MedtrainError(f"pretrained: {key} has shape {tuple(source)} in the source, {tuple(target)} in the target "
                          f"model: {sides}, the same network at another input size; its weights load at {works}")
    error.shapes = (tuple(source), tuple(target))
    return error


def _zoo_name(model: nn.Module) -> Optional[str]:
    """The zoo name of ``model`` (a custom head's backbone) where its family's stem depends on the input size."""
    from medtrain.models._zoo import family_of

    net = model.backbone if isinstance(getattr(model, "backbone", None), nn.Module) else model
    cfg = getattr(net, "pretrained_cfg", None)
    arch = cfg.get("architecture") if isinstance(cfg, dict) else None
    for name in (arch, type(net).__name__.lower()):
        if name and family_of(name):
            return name
    return None
