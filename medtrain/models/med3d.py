"""3D ResNets compatible with Med3D / MedicalNet, built on MONAI's ``monai.networks.nets.resnet``.

Chen, Ma, Zheng, "Med3D: Transfer Learning for 3D Medical Image Analysis", arXiv 1904.00625 (2019)
pre-trained 3D ResNets (He et al., CVPR 2016, with 3x3x3 convolutions as in Hara et al., CVPR 2018) on
23 segmentation datasets and released the weights as "MedicalNet". MONAI's ``ResNet`` uses the same
parameter names, so a MedicalNet checkpoint loads into it once the ``module.`` prefix of
``nn.DataParallel`` is stripped (:func:`load_medicalnet_weights`).

Two families are registered, each at depths 10, 18, 34, 50, 101, 152 and 200:

* ``resnet{depth}_3d``: for small volumes such as 28x28x28 MedMNIST 3D. The stem is a 3x3x3 stride-1
  convolution with no max-pool, as the 2D ``resnet18_28`` does for 28 px images: the stock 7x7x7/2 stem
  plus max-pool would shrink 28^3 to 7^3 before the first residual block and to 1^3 by the last stage.
  Shortcut type B (1x1x1 projection, no bias), as in the MedMNIST "ResNet+3D" baselines.
* ``med3d_resnet{depth}``: the MedicalNet architecture itself (7x7x7 stride-2 stem, max-pool; shortcut A
  for depths 18 and 34, B without bias otherwise), so that every MedicalNet tensor fits; meant for
  volumes of 64^3 and more. MedicalNet's segmentation network replaced the stride of the last two
  stages by dilation; the weights are the same shape, and a classifier keeps MONAI's strides.

Both accept ``shortcut_type="A"|"B"``, ``drop_rate`` (dropout before the classifier), ``norm_layer`` (as
passed by ``create_model(batch_norm=False)``) and ``weights`` (a checkpoint path, or ``"medicalnet"``
to use the cached/downloaded MedicalNet file for that depth).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import torch
import torch.nn as nn

from medtrain._io import atomic_path
from medtrain._io.cache import WEIGHTS, folder as _cache_folder
from medtrain.errors import MedtrainError
from medtrain.models._registry import register_model

if TYPE_CHECKING:
    from medtrain.models._resnet3d import ResNet3d

log = logging.getLogger(__name__)

DEPTHS = (10, 18, 34, 50, 101, 152, 200)

# block type (MONAI's ResNetBlock / ResNetBottleneck) and blocks per stage (Hara et al. 2018; the same table as
# MedicalNet's models/resnet.py)
_LAYOUT = {
    10: ("basic", (1, 1, 1, 1)),
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
    200: ("bottleneck", (3, 24, 36, 3)),
}

#: Where the MedicalNet weights are published (Tencent's own Hugging Face mirror of the release). The
#: ``resnet_{d}.pth`` files exist for every depth; depths 10-50 also have ``resnet_{d}_23dataset.pth``.
MEDICALNET_URLS = {
    d: f"https://huggingface.co/TencentMedicalNet/MedicalNet-Resnet{d}/resolve/main/resnet_{d}.pth" for d in DEPTHS
}


def medicalnet_shortcut(depth: int) -> tuple[str, bool]:
    """Shortcut type and whether the projection shortcut has a bias, as in the MedicalNet release."""
    return ("A", True) if depth in (18, 34) else ("B", False)


def build_resnet3d(
    depth: int,
    in_chans: int = 1,
    num_classes: int = 2,
    *,
    small_input: bool = True,
    shortcut_type: Optional[str] = None,
    drop_rate: float = 0.0,
    norm_layer: Optional[Callable] = None,
    weights: Optional[str] = None,
    data_dir: str | os.PathLike | None = None,
    **kwargs,
) -> ResNet3d:
    """Build a 3D ResNet of the given depth.

    Args:
        depth: one of 10, 18, 34, 50, 101, 152, 200.
        in_chans: input channels.
        num_classes: outputs of the classifier.
        small_input: True gives the 3x3x3 stride-1 stem without max-pool (28^3 inputs keep a 28^3 map
            in the first stage); False the MedicalNet 7x7x7 stride-2 stem with max-pool.
        shortcut_type: "A" (identity with zero-padded channels) or "B" (1x1x1 projection); default B for
            ``small_input``, MedicalNet's choice for the depth otherwise.
        drop_rate: dropout probability on the pooled features.
        norm_layer: a factory ``channels -> module`` replacing every BatchNorm3d (``batch_norm=False``).
        weights: a checkpoint path or ``"medicalnet"`` (see :func:`load_medicalnet_weights`).
        data_dir: the cache folder (``--data-dir``; None: the default) whose ``weights/`` holds, or is downloaded,
            the MedicalNet file of ``weights="medicalnet"`` (:func:`download_medicalnet`).
        **kwargs: passed to ``monai.networks.nets.resnet.ResNet`` (``widen_factor``, ``act``...).
    """
    if depth not in _LAYOUT:
        raise MedtrainError(f"3D ResNet depth must be one of {', '.join(map(str, DEPTHS))}, got {depth}")
    if kwargs.pop("drop_path_rate", 0.0):
        raise MedtrainError("drop_path is not supported by the 3D ResNets")
    from medtrain.models._resnet3d import BLOCKS, ResNet3d  # MONAI, imported when a 3D network is built

    block_name, layers = _LAYOUT[depth]
    block = BLOCKS[block_name]
    default_shortcut, bias_downsample = medicalnet_shortcut(depth)
    if small_input:
        default_shortcut, bias_downsample = "B", False
    shortcut_type = (shortcut_type or default_shortcut).upper()
    if shortcut_type not in ("A", "B"):
        raise MedtrainError(f"shortcut_type must be A or B, got {shortcut_type}")
    stem = dict(conv1_t_size=3, conv1_t_stride=1, no_max_pool=True) if small_input else dict(
        conv1_t_size=7, conv1_t_stride=2, no_max_pool=False)
    try:
        model = ResNet3d(
            block, list(layers), [64, 128, 256, 512], spatial_dims=3, n_input_channels=in_chans,
            num_classes=num_classes, shortcut_type=shortcut_type, bias_downsample=bias_downsample,
            drop_rate=drop_rate, **{**stem, **kwargs})
    except TypeError as e:
        raise MedtrainError(f"3D ResNet does not support these options: {e}") from None
    if norm_layer is not None:
        _replace_batchnorm(model, norm_layer)
    if weights:
        path = download_medicalnet(depth, data_dir=data_dir) if weights == "medicalnet" else weights
        load_medicalnet_weights(model, path)
    return model


def _replace_batchnorm(module: nn.Module, norm_layer: Callable) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm3d):
            setattr(module, name, norm_layer(child.num_features))
        else:
            _replace_batchnorm(child, norm_layer)


def _register(depth: int, small_input: bool) -> None:
    name = f"resnet{depth}_3d" if small_input else f"med3d_resnet{depth}"

    def builder(in_chans: int = 1, num_classes: int = 2, **kwargs) -> ResNet3d:
        return build_resnet3d(depth, in_chans, num_classes, small_input=small_input, **kwargs)

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = (
        f"3D ResNet-{depth} with a 3x3x3 stride-1 stem and no max-pool, for 28^3 volumes." if small_input else
        f"3D ResNet-{depth} as in Med3D/MedicalNet (Chen et al. 2019): 7x7x7/2 stem, max-pool; "
        f"accepts MedicalNet weights.")
    register_model(builder)


for _d in DEPTHS:
    _register(_d, small_input=True)
    _register(_d, small_input=False)


# --------------------------------------------------------------------------- MedicalNet weights


@dataclass
class LoadReport:
    """What :func:`load_medicalnet_weights` did with each tensor."""

    loaded: list = field(default_factory=list)
    missing: list = field(default_factory=list)  #: in the model, not in the checkpoint (e.g. ``fc.*``)
    unexpected: list = field(default_factory=list)  #: in the checkpoint, not in the model (``conv_seg.*``)
    mismatched: list = field(default_factory=list)  #: same name, different shape: (name, ckpt, model)
    adapted: list = field(default_factory=list)  #: conv1 weights repeated over new input channels

    def summary(self) -> str:
        return (f"{len(self.loaded)} tensors loaded, {len(self.missing)} missing, {len(self.unexpected)} "
                f"unexpected, {len(self.mismatched)} of another shape")


def medicalnet_key_to_monai(key: str) -> str:
    """Map a MedicalNet parameter name onto MONAI's ResNet.

    MedicalNet was trained under ``nn.DataParallel``, so every name starts with ``module.``; the rest
    (``conv1``, ``bn1``, ``layerN.i.convK``, ``layerN.i.downsample.{0,1}``) is already MONAI's naming.
    """
    while key.startswith("module."):
        key = key[len("module."):]
    return key


def _read_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise MedtrainError(f"{path}: weights file not found")
    try:
        # weights_only: a checkpoint is data, never code; a pickle with arbitrary objects is refused.
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (torch raises many types for a bad file)
        raise MedtrainError(f"{path}: not a readable tensor checkpoint ({type(e).__name__})") from None
    if isinstance(ckpt, dict) and isinstance(ckpt.get("state_dict"), dict):
        ckpt = ckpt["state_dict"]
    if not isinstance(ckpt, dict) or not all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise MedtrainError(f"{path}: expected a state dict of tensors (optionally under 'state_dict')")
    return ckpt


def load_medicalnet_weights(model: nn.Module, path: str | os.PathLike, strict: bool = False) -> LoadReport:
    """Load a MedicalNet (Med3D) checkpoint into a MONAI-style 3D ResNet.

    The checkpoint is ``{'state_dict': {'module.conv1.weight': ...}}``; it is read with
    ``torch.load(weights_only=True)`` only. Names are mapped by :func:`medicalnet_key_to_monai`.
    Tensors whose shape differs are skipped and reported (the classifier, or the stem of a
    ``resnet*_3d`` model, whose 3x3x3 kernel cannot take MedicalNet's 7x7x7), except the first
    convolution's input channels: MedicalNet is single-channel, and for ``in_chans > 1`` its kernel is
    repeated over the channels and divided by their number, so a grey volume copied into every channel
    gives the pre-trained response (as timm adapts ImageNet stems).

    Args:
        model: the 3D ResNet (e.g. ``create_model("med3d_resnet18", in_chans=1, num_classes=2)``).
        path: the ``.pth`` file.
        strict: raise a MedtrainError if any tensor other than ``fc.*`` is missing or mismatched.

    Returns:
        a :class:`LoadReport` listing loaded, missing, unexpected and mismatched names.
    """
    path = Path(path)
    ckpt = {medicalnet_key_to_monai(k): v for k, v in _read_checkpoint(path).items()}
    own = model.state_dict()
    report = LoadReport()
    to_load = {}
    for k, v in ckpt.items():
        if k not in own:
            report.unexpected.append(k)
            continue
        target = own[k]
        if v.shape != target.shape:
            if (k == "conv1.weight" and v.ndim == 5 and v.shape[1] == 1 and v.shape[0] == target.shape[0]
                    and v.shape[2:] == target.shape[2:]):
                v = v.repeat(1, target.shape[1], 1, 1, 1) / target.shape[1]
                report.adapted.append(k)
            else:
                report.mismatched.append((k, tuple(v.shape), tuple(target.shape)))
                continue
        to_load[k] = v.to(dtype=target.dtype)
        report.loaded.append(k)
    report.missing = [k for k in own if k not in to_load and not k.endswith("num_batches_tracked")]
    if strict:
        bad = [k for k in report.missing if not k.startswith("fc.")]
        bad += [m[0] for m in report.mismatched if not m[0].startswith("fc.")]
        if bad:
            raise MedtrainError(f"{path}: does not fit the model ({len(bad)} tensors missing or of another "
                                f"shape, first {bad[0]})")
    model.load_state_dict(to_load, strict=False)
    log.info("MedicalNet weights %s: %s", path.name, report.summary())
    return report


def _default_weights_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``weights/`` of the cache folder ``data_dir`` (``--data-dir``; None: the default), as every download's folder
    is found: the cache layout has one owner, :func:`medtrain._io.cache.folder`."""
    return _cache_folder(WEIGHTS, data_dir)


def _download(url: str, dest: Path) -> None:
    """Fetch ``url`` into ``dest`` atomically (replaced in tests; never called when the file is cached)."""
    with atomic_path(dest) as tmp:
        torch.hub.download_url_to_file(url, str(tmp), progress=False)


def download_medicalnet(depth: int, *, data_dir: str | os.PathLike | None = None) -> Path:
    """Path of the cached MedicalNet ``resnet_{depth}.pth``, downloading it on first use.

    The file lives in ``weights/`` of the cache folder ``data_dir`` (a run's ``--data-dir``; None: the default,
    :func:`medtrain._io.cache_dir`), where ``medtrain cache`` lists it: one folder, the one every download uses.
    Offline with no cached copy, raises one MedtrainError naming the file, its URL and where to put it.
    """
    if depth not in MEDICALNET_URLS:
        raise MedtrainError(f"MedicalNet has no ResNet-{depth}; depths: {', '.join(map(str, DEPTHS))}")
    url = MEDICALNET_URLS[depth]
    dest = _default_weights_dir(data_dir) / url.rsplit("/", 1)[1]
    if dest.is_file():
        return dest
    made = _missing_folders(dest.parent)  # the folders the download creates (weights/, the cache folder itself)
    try:
        _download(url, dest)
    except Exception as e:  # noqa: BLE001  (URLError, HTTPError, OSError, timeouts...)
        _remove_empty(made)  # nothing half-made stays: an empty weights/ had been left behind offline
        raise MedtrainError(f"MedicalNet weights {dest.name} are not cached and could not be downloaded "
                            f"({type(e).__name__}); download {url} and put it at {dest}") from None
    return dest


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    out = []
    while not folder.exists() and folder.parent != folder:
        out.append(folder)
        folder = folder.parent
    return out


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders a failed download created (deepest first), those left empty; any other is kept."""
    for f in folders:
        try:
            f.rmdir()
        except FileNotFoundError:  # already gone
            continue
        except OSError:  # not empty (another process's file in it): it and its parents stay
            return
