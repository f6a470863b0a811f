"""Classifier heads with a chosen kind of dropout, and fitting them onto any backbone of the zoo.

A CNN classifier ends with global pooling, dropout and a linear layer. ``build_head`` makes that last
part configurable by name, so the dropout family can be compared on one backbone:

* ``dropout``: ``nn.Dropout`` on the pooled features (Srivastava et al., JMLR 2014);
* ``dropconnect``: the classifier's weights are dropped instead (Wan et al., ICML 2013);
* ``annealed``: dropout whose rate falls to 0 over ``anneal_epochs`` (Rennie et al., SLT 2014);
* ``standout``: input-dependent keep probabilities (Ba & Frey, NIPS 2013);

followed by a linear classifier or by a maxout layer and a linear classifier (Goodfellow et al., ICML
2013). ``replace_head`` puts such a head on any model of the zoo: the timm families, the torchvision
ones (which carry timm's classifier interface, see ``medtrain.models._tv_interface``) and the 3D ResNets
(``ResNet3d``), or any other model with timm's ``reset_classifier``/``num_features``; it refuses, with a
MedtrainError, a model without them.

Dropout *inside* the backbone is reached differently: ``make_dropout`` builds spatial dropout
(``nn.Dropout2d``, Tompson et al., CVPR 2015) or DropBlock (``timm.layers.DropBlock2d``, Ghiasi et al.,
NeurIPS 2018) modules for feature maps, and stochastic depth (Huang et al., ECCV 2016) is timm's ``drop_path_rate``, ``create_model(drop_path=)``.
"""
from __future__ import annotations

import re
import warnings
from collections import OrderedDict

import torch.nn as nn
from torch import Tensor

from medtrain.errors import MedtrainError, suggest
from medtrain.models.layers import (
    MC_DROPOUT_TYPES,
    AnnealedDropout,
    DropConnectLinear,
    Maxout,
    Standout,
    beta_for_rate,
)
from medtrain.models.layers.dropconnect import check_rate

__all__ = ["DROPOUT_KINDS", "HEAD_DROPOUT_KINDS", "HEADS", "WithHead", "build_head", "make_dropout", "replace_head"]

#: Dropout modules ``make_dropout`` builds by name.
DROPOUT_KINDS = ("dropout", "dropout2d", "dropblock", "annealed", "standout")
#: Dropout kinds a head on pooled ``(B, F)`` features accepts (the 2-d kinds need feature maps).
HEAD_DROPOUT_KINDS = ("dropout", "dropconnect", "annealed", "standout")
#: Head shapes; ``maxout:K`` sets the number of pieces, ``maxout`` takes ``maxout_k``.
HEADS = ("linear", "maxout", "maxout:K")
#: The most maxout pieces a head takes: each piece is a ``F x hidden`` weight matrix (up to 512 x 512), so 32 pieces
#: are 33 M weights; Goodfellow et al. used 2-5. ``maxout:100000`` had died in a 26 GB allocation with a traceback.
MAX_MAXOUT_PIECES = 32


def make_dropout(
    kind: str,
    p: float,
    *,
    anneal_epochs: int | None = None,
    anneal_schedule: str = "linear",
    block_size: int = 7,
    standout_alpha: float = 1.0,
) -> nn.Module:
    """A dropout module by name.

    Args:
        kind: one of ``DROPOUT_KINDS``:

            - ``"dropout"``: ``nn.Dropout(p)``, any shape;
            - ``"dropout2d"``: spatial dropout, whole channels of ``(B, C, H, W)`` maps;
            - ``"dropblock"``: ``timm.layers.DropBlock2d``, contiguous ``block_size`` squares of maps;
            - ``"annealed"``: :class:`AnnealedDropout` from ``p`` to 0 over ``anneal_epochs``;
            - ``"standout"``: :class:`Standout` dropping with probability ``p`` where ``alpha * a = 0``.

            DropConnect acts on a layer's weights, not on activations: use :class:`DropConnectLinear`
            or ``build_head(dropout_kind="dropconnect")``.
        p: drop probability, ``0 <= p < 1``; 0 gives ``nn.Identity()`` for every kind.
        anneal_epochs: required for ``"annealed"``.
        anneal_schedule: ``"linear"``, ``"cosine"`` or ``"exponential"`` for ``"annealed"``.
        block_size: side of the dropped squares for ``"dropblock"``.
        standout_alpha: ``alpha`` for ``"standout"``.

    Returns:
        the module; inverted scaling (``1 / (1 - p)`` in training) for all kinds but standout, which
        multiplies by its keep probability at evaluation instead.
    """
    if kind == "dropconnect":
        raise MedtrainError(
            "dropconnect drops a layer's weights: use DropConnectLinear or build_head(dropout_kind='dropconnect')"
        )
    if kind not in DROPOUT_KINDS:
        raise suggest(str(kind), DROPOUT_KINDS, "dropout kind")
    p = check_rate(p)
    if kind == "annealed" and anneal_epochs is None:
        raise MedtrainError("annealed dropout needs anneal_epochs (epochs over which the rate falls to 0)")
    if p == 0.0:
        return nn.Identity()
    if kind == "dropout":
        return nn.Dropout(p)
    if kind == "dropout2d":
        return nn.Dropout2d(p)
    if kind == "dropblock":
        from timm.layers import DropBlock2d

        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
            raise MedtrainError(f"dropblock block_size must be an integer >= 1, got {block_size!r}")
        return DropBlock2d(drop_prob=p, block_size=block_size)
    if kind == "annealed":
        return AnnealedDropout(p, anneal_epochs, anneal_schedule)
    return Standout(standout_alpha, beta_for_rate(p))


def maxout_pieces(head: str, maxout_k: int = 2) -> int | None:
    """None for a linear head, else the number of maxout pieces (2 to :data:`MAX_MAXOUT_PIECES`; a run's settings
    are checked with it too)."""
    if head == "linear":
        return None
    if head == "maxout":
        k = maxout_k
    elif m := re.fullmatch(r"maxout:(\d+)", str(head)):
        k = int(m.group(1))
    else:
        raise suggest(str(head), HEADS, "head")
    if not 2 <= k <= MAX_MAXOUT_PIECES:
        raise MedtrainError(f"a maxout head takes 2 to {MAX_MAXOUT_PIECES} pieces (maxout:K), got {k}")
    return k


def build_head(
    in_features: int,
    num_classes: int,
    dropout_kind: str = "dropout",
    p: float = 0.0,
    head: str = "linear",
    maxout_k: int = 2,
    *,
    hidden_features: int | None = None,
    anneal_epochs: int | None = None,
    anneal_schedule: str = "linear",
    standout_alpha: float = 1.0,
    dropconnect_mask: str = "batch",
) -> nn.Sequential:
    """A classifier head for pooled features.

    Args:
        in_features: width ``F`` of the pooled features (``WithHead``/timm ``num_features``).
        num_classes: outputs (classes, or labels of a multi-label task).
        dropout_kind: one of ``HEAD_DROPOUT_KINDS``; ignored when ``p == 0``.
        p: drop probability, ``0 <= p < 1``; 0 builds a head without dropout. For ``annealed`` it is
            the initial rate, for ``standout`` the rate at zero activation (``beta = logit(1 - p)``).
        head: ``"linear"``, or ``"maxout"`` / ``"maxout:K"`` for a maxout layer of ``hidden_features``
            units with ``K`` (default ``maxout_k``) pieces before the linear classifier.
        maxout_k: pieces per maxout unit when ``head="maxout"``.
        hidden_features: maxout units; default ``min(in_features, 512)``, which bounds the layer's
            ``K * F * hidden`` weights for wide backbones.
        anneal_epochs, anneal_schedule: for ``dropout_kind="annealed"``.
        standout_alpha: for ``dropout_kind="standout"``.
        dropconnect_mask: ``"batch"`` or ``"sample"`` masks for ``dropout_kind="dropconnect"``.

    Returns:
        ``nn.Sequential`` mapping ``(B, F)`` to ``(B, num_classes)`` logits, with named children:
        ``drop`` + ``fc`` (linear), or ``drop`` + ``maxout`` + ``drop_hidden`` + ``fc`` (maxout, dropout
        before each layer as in Goodfellow et al.). With ``dropconnect`` there is no ``drop`` module:
        ``fc`` is a :class:`DropConnectLinear`.
    """
    if dropout_kind not in HEAD_DROPOUT_KINDS:
        raise suggest(str(dropout_kind), HEAD_DROPOUT_KINDS, "head dropout kind")
    for name, value in (("in_features", in_features), ("num_classes", num_classes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise MedtrainError(f"{name} must be an integer >= 1, got {value!r}")
    p = check_rate(p)
    k = maxout_pieces(head, maxout_k)

    def drop() -> nn.Module:
        if dropout_kind == "dropconnect" or p == 0.0:
            return nn.Identity()
        return make_dropout(
            dropout_kind, p, anneal_epochs=anneal_epochs, anneal_schedule=anneal_schedule, standout_alpha=standout_alpha
        )

    def classifier(width: int) -> nn.Module:
        if dropout_kind == "dropconnect" and p > 0:
            return DropConnectLinear(width, num_classes, p, mask=dropconnect_mask)
        return nn.Linear(width, num_classes)

    if k is None:
        return nn.Sequential(OrderedDict(drop=drop(), fc=classifier(in_features)))
    hidden = min(in_features, 512) if hidden_features is None else hidden_features
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
        raise MedtrainError(f"hidden_features must be an integer >= 1, got {hidden!r}")
    return nn.Sequential(
        OrderedDict(drop=drop(), maxout=Maxout(in_features, hidden, k), drop_hidden=drop(), fc=classifier(hidden))
    )


def _head_in_features(head: nn.Module) -> int | None:
    """``in_features`` of the first layer of ``head`` that declares one."""
    for m in head.modules():
        n = getattr(m, "in_features", None)
        if isinstance(n, int):
            return n
    return None


def _out_features(head: nn.Module) -> int | None:
    last = None
    for m in head.modules():
        n = getattr(m, "out_features", None)
        if isinstance(n, int):
            last = n
    return last


class WithHead(nn.Module):
    """A backbone that outputs pooled features (timm interface), followed by a head.

    Keeps the two parts as ``backbone`` and ``head`` so transfer-learning code can freeze, re-initialise
    or give different learning rates to each, and keeps timm's interface (``num_features``,
    ``forward_features``, ``forward_head``, ``get_classifier``) for code such as CAM that relies on it.

    Args:
        backbone: a zoo or timm model whose classifier was removed (``reset_classifier(0)``).
        head: maps ``(B, num_features)`` to ``(B, num_classes)``.

    Shape:
        - Input: whatever the backbone takes, ``(B, C, H, W)`` or ``(B, C, D, H, W)``. Output:
          ``(B, num_classes)``.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.num_features = feature_width(backbone)
        self.num_classes = _out_features(head)

    def forward_features(self, x: Tensor) -> Tensor:
        """The backbone's unpooled feature maps."""
        return self.backbone.forward_features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Pool feature maps with the backbone, then apply the head unless ``pre_logits``."""
        x = self.backbone.forward_head(x)  # the backbone's classifier is Identity: pooled features
        return x if pre_logits else self.head(x)

    def get_classifier(self) -> nn.Module:
        return self.head

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))


def feature_width(model: nn.Module) -> int:
    """Width of the pooled features a model hands to its classifier."""
    # Models with a pre-logits layer (e.g. MobileNetV3's conv_head) output head_hidden_size, not num_features.
    width = getattr(model, "head_hidden_size", None) or getattr(model, "num_features", None)
    if not isinstance(width, int):
        raise MedtrainError(f"{type(model).__name__} does not say how many features it outputs (num_features)")
    return width


def replace_head(model: nn.Module, head: nn.Module) -> WithHead:
    """Replace a model's classifier by ``head``.

    The model is modified in place: ``reset_classifier(0)`` makes it output its pooled features
    ``(B, num_features)`` (global pooling and any pre-logits layer are kept), which ``head`` maps to
    logits.

    Args:
        model: anything ``medtrain.models.create_model`` builds (every name of ``list_models()`` and
            every timm name), or another model with timm's ``reset_classifier`` and ``num_features``.
        head: e.g. ``build_head(model.num_features, num_classes, ...)``.

    Returns:
        ``WithHead(model, head)``.

    Raises:
        MedtrainError: before touching ``model``, if it has no timm classifier interface (so a custom
            head cannot be fitted), or if ``head`` takes another number of features.

    Note:
        timm models and 3D ResNets built with ``dropout=p`` keep applying that dropout to the features
        they output, before the head's own; build the backbone with ``dropout=0`` when the head brings
        dropout. (The torchvision families drop their pre-classifier dropout on ``reset_classifier(0)``.)
    """
    if not callable(getattr(model, "reset_classifier", None)) or not isinstance(
        getattr(model, "head_hidden_size", None) or getattr(model, "num_features", None), int
    ):
        raise MedtrainError(
            f"custom heads need a model with timm's classifier interface (reset_classifier, num_features); "
            f"{type(model).__name__} has none"
        )
    model.reset_classifier(0)
    width = feature_width(model)
    expected = _head_in_features(head)
    if expected is not None and expected != width:
        raise MedtrainError(f"the head takes {expected} features but {type(model).__name__} outputs {width}")
    drop_rate = getattr(model, "drop_rate", 0.0)
    head_drops = any(isinstance(m, MC_DROPOUT_TYPES) for m in head.modules())
    if isinstance(drop_rate, (int, float)) and drop_rate > 0 and head_drops:
        warnings.warn(
            f"replace_head: the backbone also applies dropout {drop_rate} to its features; build it with dropout=0",
            stacklevel=2,
        )
    return WithHead(model, head)


def final_linear(model: nn.Module, num_classes: int) -> nn.Linear | None:
    """The linear layer that produces a model's logits, when it is the last layer of its classifier and has
    a bias (so a per-class shift of the logits can be folded into it); None otherwise (maxout heads, models
    without timm's ``get_classifier``)."""
    get = getattr(model, "get_classifier", None)
    classifier = get() if callable(get) else None
    if not isinstance(classifier, nn.Module):
        return None
    last = list(classifier.modules())[-1]
    if isinstance(last, nn.Linear) and last.bias is not None and last.out_features == num_classes:
        return last
    return None
