"""Stages of a CNN: what transfer learning copies, freezes and re-draws, stage by stage.

A CNN is cut into the stages its ``feature_info`` lists (timm), lowest first: for the ResNets, stage 0 is
the *stem* (first convolution and its normalisation), stages 1-4 are ``layer1``-``layer4``. Parameters
between two listed modules belong to the later stage; parameters after the last one (e.g. a ``conv_head``)
to the last stage; the classifier is the ``head``, never a stage and never copied.
"""
from __future__ import annotations

from torch import nn

from medtrain.errors import MedtrainError
from medtrain.models.pretrained import classifier_prefix

__all__ = ["HEAD", "stage_modules", "model_stages", "stage_names", "set_frozen"]

HEAD = "head"


def _backbone(model: nn.Module) -> tuple[nn.Module, str]:
    """The module that carries ``feature_info`` and its name prefix (``WithHead`` keeps it in ``backbone``)."""
    if getattr(model, "feature_info", None) is None and isinstance(getattr(model, "backbone", None), nn.Module):
        return model.backbone, "backbone."
    return model, ""


def stage_modules(model: nn.Module) -> list[str]:
    """Qualified names of the modules that end each stage (from timm's ``feature_info``)."""
    bb, prefix = _backbone(model)
    info = getattr(bb, "feature_info", None)
    if not info:
        raise MedtrainError(f"{type(model).__name__} does not list its stages (no feature_info); "
                            "transfer strategies other than scratch/finetune need one")
    dicts = info.get_dicts() if hasattr(info, "get_dicts") else info  # timm FeatureInfo or a plain list
    mods = [d["module"] if isinstance(d, dict) else d for d in dicts]
    return [prefix + m for m in mods]


def model_stages(model: nn.Module) -> dict[str, int | str]:
    """Map every parameter name to its stage index (0 = stem) or to ``"head"``.

    See the module docstring for the rule; ``len(set(values)) - 1`` is the number of stages.
    """
    ends = stage_modules(model)
    order = {name: i for i, (name, _) in enumerate(model.named_modules())}
    last = {}
    for name in order:  # position of each stage module's last descendant
        for s, m in enumerate(ends):
            if name == m or name.startswith(m + "."):
                last[s] = max(last.get(s, -1), order[name])
    missing = [m for s, m in enumerate(ends) if s not in last]
    if missing:
        raise MedtrainError(f"{type(model).__name__}: feature_info names unknown modules {missing}")
    head = classifier_prefix(model)
    out: dict[str, int | str] = {}
    for pname, _ in model.named_parameters():
        mod = pname.rsplit(".", 1)[0] if "." in pname else ""
        if mod == head or mod.startswith(head + "."):
            out[pname] = HEAD
            continue
        pos = order.get(mod, len(order))
        out[pname] = next((s for s in range(len(ends)) if pos <= last[s]), len(ends) - 1)
    return out


def stage_names(model: nn.Module) -> list[str]:
    """Readable stage names: ``stem`` for stage 0, then the feature_info module names."""
    return ["stem"] + [m.split(".")[-1] if not m.startswith("backbone.") else m[9:] for m in stage_modules(model)[1:]]


def set_frozen(model: nn.Module, stages: dict[str, int | str], which: set, frozen: bool) -> None:
    """Freeze (or unfreeze) the parameters and batch-norm statistics of the stages in ``which``.

    A frozen stage's batch norm is put in eval mode, so it normalises with, and keeps, its running statistics;
    unfrozen, it takes the network's mode again and its statistics learn from then on. The mode is the module's
    own: Lightning (2.6, as required) sets no mode when training starts or resumes and restores each submodule's
    own after every validation (Lightning then warns of the eval-mode modules at fit start: intended here).
    """
    for pname, p in model.named_parameters():
        if stages[pname] in which:
            p.requires_grad_(not frozen)
    mods = dict(model.named_modules())
    owners = {pname.rsplit(".", 1)[0] for pname, s in stages.items() if s in which}
    for name in owners:
        m = mods.get(name)
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.train(not frozen and model.training)
