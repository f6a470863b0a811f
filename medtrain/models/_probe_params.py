"""The parameters a linear probe's network holds but never calls, left out of its parameter count.

A linear probe (``--transfer linear-probe``; ``medtrain.training.network.ProbeModel``) keeps the whole frozen source
network beside its own linear layer, so that its weights file is the source's, but it reads only the pooled codes:
the head's input (the source's classifier is never called), or a stage's output (the stages after it, the final
norm and the classifier are never called). Counted as parameters of the network, they had been reported as
"normalisation and other layers" (``medtrain cost``) and in ``metrics.json["parameters"]``.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn


def probe_parts(model: nn.Module):
    """``(network, layer)`` of a linear probe's network (a frozen ``model``, the stage index ``layer`` it reads,
    -1 for the head's input, and its own ``linear``), else None."""
    net, layer = getattr(model, "model", None), getattr(model, "layer", None)
    if (isinstance(getattr(model, "linear", None), nn.Linear) and isinstance(net, nn.Module)
            and isinstance(layer, int) and not isinstance(layer, bool) and callable(getattr(net, "get_classifier", None))):
        return net, layer
    return None


def unused_parameters(model: nn.Module) -> set[int]:
    """The ids of ``model``'s parameters its forward never reads: a linear probe's unused part of the source
    network (:func:`probe_parts`); nothing for any other network."""
    parts = probe_parts(model)
    if parts is None:
        return set()
    net, layer = parts
    everything = {id(p) for p in net.parameters()}
    if layer < 0:  # the head's input: everything but the classifier
        return {id(p) for p in net.get_classifier().parameters()}
    # A stage's output, as the probe reads it (``pooled_codes``): the backbone's ``forward_intermediates`` up to that
    # stage, which is what timm's ``prune_intermediate_layers`` keeps, done on a copy on the meta device (no memory).
    bb = net.backbone if getattr(net, "feature_info", None) is None and hasattr(net, "backbone") else net
    memo = {id(t): (nn.Parameter(torch.empty_like(t, device="meta"), t.requires_grad) if isinstance(t, nn.Parameter)
                    else torch.empty_like(t, device="meta")) for t in [*bb.parameters(), *bb.buffers()]}
    try:
        pruned = copy.deepcopy(bb, memo)
        pruned.prune_intermediate_layers(indices=[layer], prune_norm=True, prune_head=True)
    except Exception:  # a network timm cannot prune: only its classifier is known to be unused
        return {id(p) for p in net.get_classifier().parameters()}
    kept = {name for name, _ in pruned.named_parameters()}
    return everything - {id(p) for name, p in bb.named_parameters() if name in kept}
