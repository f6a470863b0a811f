"""Which layer of a run's network Grad-CAM looks at, and the network wrapped for the explainers.

Grad-CAM (and Grad-CAM++) localises no finer than one cell of the layer it is
computed at. The paper uses the last convolutional stage, whose map is 7x7 (14x14 for VGG) at 224 px
ImageNet resolution. medtrain's small-input networks keep the full 28 px resolution in the stem, so the
last stage of a 28 px ResNet is 4x4 (cells of 7 px) and a 16-voxel volume's is 2x2x2: too coarse to
point at a lesion of a few pixels, whatever the network learned. The default layer is therefore
:func:`default_layer`: *the deepest stage whose output is at least* :data:`MIN_CELLS` *cells a side*
(measured with a forward pass, not read from ``feature_info``, whose strides do not know the small-input
stem). At 224 px that is the last stage, as in the paper; at 28 px it is ResNet's ``layer3`` (7x7); at
16 voxels ``layer2`` (8x8x8). ``layer=`` overrides it with any module name of the network. An ensemble run
(``--members``) is explained at that layer of each member, the map the mean of the members' maps (each
member's Grad-CAM of the ensemble's logit), so a layer name is one of a single member's.
"""
from __future__ import annotations

import copy
from functools import partial
from typing import Sequence

import torch
from torch import nn

from medtrain.runmodel import RunModel
from medtrain.errors import MedtrainError
from medtrain.models.ensemble import Ensemble
from medtrain.models.stages import stage_modules
from medtrain.training.network import ProbeModel, normalise

MIN_CELLS = 7  #: the coarsest map the default Grad-CAM layer may have (cells a side); see the module docstring


class LogitNet(nn.Module):
    """[0, 1] float images ``(B, C, *spatial)`` -> logits, through the run's colour space, normalisation and
    a copy of its network (``self.model``, so a layer ``NAME`` of the network is ``model.NAME`` here). The
    copy keeps the hooks the explainers register, and the in-place flags they turn off, off the run."""

    def __init__(self, run: RunModel):
        super().__init__()
        module = run.module
        self.model = copy.deepcopy(module.model).eval()
        self.input_transform = module.input_transform
        self.register_buffer("mean", module.mean.detach().clone())
        self.register_buffer("std", module.std.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(normalise(x, self.mean, self.std, self.input_transform))


def _candidate_layers(model: nn.Module) -> list[str]:
    """The network's stages (lowest first), or, for a network that lists none, its convolutions."""
    try:
        return stage_modules(model)
    except MedtrainError:
        convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
        return [n for n, m in model.named_modules() if isinstance(m, convs)]


def stage_shapes(run: RunModel, names: Sequence[str] | None = None) -> list[tuple[str, tuple]]:
    """``(module name, spatial shape of its output)`` for each stage of the run's network (or each of
    ``names``), measured by a forward pass of one blank input of the run's shape."""
    model = run.module.model
    names = list(names) if names is not None else _candidate_layers(model)
    mods = dict(model.named_modules())
    shapes: dict[str, tuple] = {}

    def hook(name, _m, _inp, out):
        if isinstance(out, torch.Tensor):
            shapes[name] = tuple(out.shape[2:])

    handles = [mods[n].register_forward_hook(partial(hook, n)) for n in names if n in mods]
    try:
        with torch.no_grad():
            run.module.model.eval()
            run.module.model(torch.zeros(1, *run.input_shape))
    finally:
        for h in handles:
            h.remove()
    return [(n, shapes[n]) for n in names if n in shapes]


#: The module names of an ensemble's members (``models.ensemble.Ensemble``): a layer name of an ensemble run
#: is one of its first member's, and its map the mean of the maps at that layer of every member.
_MEMBER = "members.{}."


def _members(run: RunModel) -> int:
    """How many networks the run averages (1 for a plain network)."""
    return len(run.module.model.members) if isinstance(run.module.model, Ensemble) else 1


def _network(run: RunModel) -> nn.Module:
    """The network whose layers a layer name names: the run's, an ensemble's first member, or a linear probe's
    frozen network (a probe run's ``--layer layer3`` had been "no such module": its names sat under ``model.``)."""
    if _members(run) > 1:
        return run.module.model.members[0]
    return run.module.model.model if isinstance(run.module.model, ProbeModel) else run.module.model


def _prefix(run: RunModel, member: int = 0) -> str:
    """Where :func:`_network`'s modules sit in the run's network: ``members.I.``, ``model.`` (a probe's), or ''."""
    if _members(run) > 1:
        return _MEMBER.format(member)
    return "model." if isinstance(run.module.model, ProbeModel) else ""


def _probed(run: RunModel, stages: list[str]) -> list[str]:
    """``stages`` a probe's codes depend on: those up to the stage it pools (Grad-CAM's gradients are 0 above)."""
    model = run.module.model
    return stages[:model.layer + 1] if isinstance(model, ProbeModel) and model.layer >= 0 else stages


def target_layers(run: RunModel, layer: str) -> list[str]:
    """The module names (in :class:`LogitNet`) Grad-CAM hooks for ``layer``: one, or one per ensemble member."""
    return [f"model.{_prefix(run, i)}{layer}" for i in range(_members(run))]


def _spatial_layers(run: RunModel) -> tuple[list[tuple[str, tuple]], list[tuple[str, tuple]]]:
    """``(name, map shape)`` of the network's stages (:func:`_candidate_layers`) whose output is a spatial map,
    lowest first, measured as :func:`stage_shapes` does; and, where none is, of its convolutions whose output is
    (a ViT's stages, ``blocks.*``, give token sequences: its only map is the patch embedding's)."""
    net, prefix = _network(run), _prefix(run)
    ndim = len(run.input_shape) - 1
    stages = _probed(run, _candidate_layers(net))
    convs = [n for n, m in net.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    shapes = {n[len(prefix):]: s for n, s in stage_shapes(run, [prefix + n for n in dict.fromkeys(stages + convs)])}
    spatial = [(n, shapes[n]) for n in stages if len(shapes.get(n, ())) == ndim]
    return spatial, ([] if spatial else [(n, shapes[n]) for n in convs if len(shapes.get(n, ())) == ndim])


def _what_works(run: RunModel, spatial, convs) -> str:
    """What to give instead of a layer without a spatial map: the stages that have one, or (none has) the
    deepest convolution that does, with its cells' size, and occlusion, which needs no layer."""
    if spatial:
        return f"use a stage with a spatial map: {', '.join(n for n, _ in spatial[:8])}"
    occlusion = "--method occlusion (which needs no layer)"
    if not convs:
        return f"use {occlusion}"
    name, shape = convs[-1]
    side = run.input_shape[1:]
    cells = "x".join(str(-(-a // b)) for a, b in zip(side, shape))
    return (f"use --layer {name} (a {'x'.join(map(str, shape))} map at {'x'.join(map(str, side))} px: cells of "
            f"{cells} px) or {occlusion}")


def default_layer(run: RunModel) -> str:
    """The deepest stage whose output is at least :data:`MIN_CELLS` cells a side (or the input's size when
    that is smaller); the first stage when none is. See the module docstring for why. A network none of whose
    stages outputs a spatial map (a ViT: token sequences) is refused, naming what works."""
    spatial, convs = _spatial_layers(run)
    if not spatial:
        tokens = " (its blocks give token sequences)" if hasattr(_network(run), "patch_embed") else ""
        raise MedtrainError(f"{run.meta['model']}: none of its stages outputs a spatial map to compute Grad-CAM "
                            f"at{tokens}; {_what_works(run, [], convs)}")
    want = min(MIN_CELLS, *run.input_shape[1:])
    fit = [n for n, s in spatial if min(s) >= want]
    return fit[-1] if fit else spatial[0][0]


def check_layer(run: RunModel, layer: str) -> str:
    """``layer`` when it names a module of the network whose output is a spatial map, as Grad-CAM needs; else
    refused, naming only layers that have one (or, for a network whose stages have none, what works)."""
    names = dict(_network(run).named_modules())
    if layer not in names or not layer:
        spatial, convs = _spatial_layers(run)
        raise MedtrainError(f"--layer {layer}: no such module in {run.meta['model']}; {_what_works(run, spatial, convs)}")
    probed = _probed(run, stages := _candidate_layers(_network(run)))
    if layer in stages and layer not in probed:  # not run: a probe's forward stops at the stage it pools
        raise MedtrainError(f"--layer {layer}: the probe pools {probed[-1]}, and the layers above it are not run; use "
                            f"{probed[-1]} or one below it")
    prefix = _prefix(run)
    shape = dict(stage_shapes(run, [prefix + layer])).get(prefix + layer)
    if shape is None or len(shape) != len(run.input_shape) - 1:
        spatial, convs = _spatial_layers(run)
        raise MedtrainError(f"--layer {layer} has no spatial map to compute Grad-CAM at (output "
                            f"{'not a tensor' if shape is None else 'x'.join(map(str, shape)) or 'a vector'}); "
                            f"{_what_works(run, spatial, convs)}")
    return layer
