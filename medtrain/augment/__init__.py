"""Batched data augmentation, applied on the training device to whole batches.

Contract used by training: ``build_batch_augment(names, params)`` returns a module (or ``None`` for no
augmentation) called as ``x, y = aug(x, y)`` with ``x`` a float batch ``(B, C, H, W)`` (or
``(B, C, D, H, W)`` for volumes) in [0, 1] and ``y`` soft targets ``(B, K)`` (one-hot, or multi-hot for
multi-label tasks); ops that mix samples (Mixup, CutMix) mix ``y`` too. Random parameters are drawn per
sample from torch's global generator, which training seeds per epoch.

Each op module registers its ops with ``medtrain.augment._registry.register_op``; importing this package
imports them all.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from torch import Tensor, nn

from medtrain.augment import geometric  # noqa: F401  (registers flip, vflip, shift)
from medtrain.augment import erasing, intensity, mixing  # noqa: F401  (register their ops)
from medtrain.augment import volume  # noqa: F401  (registers the 3d_* ops)
from medtrain.augment import policies  # noqa: F401  (registers autoaugment, randaugment, trivialaugment, policy)
from medtrain.augment.fused import FusedPipeline, fuse  # noqa: F401
from medtrain.augment._registry import LISTED_BY, get_op, op_names, twin_hint
from medtrain.errors import MedtrainError, suggest


class Compose(nn.Module):
    """Apply augmentations in order to ``(x, y)``."""

    def __init__(self, ops: Sequence[nn.Module]):
        super().__init__()
        self.ops = nn.ModuleList(ops)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        for op in self.ops:
            x, y = op(x, y)
        return x, y


def available() -> list[str]:
    return op_names()


class _Reads(dict):
    """The settings handed to the op factories, recording each key they ask for, in order, with the default they
    fall back to (``asked``; :func:`medtrain.augment.catalogue.op_settings` lists them for ``augment list``)."""

    def __init__(self, params: dict):
        super().__init__(params)
        self.asked: dict = {}

    @property
    def read(self):
        """The keys asked for (a set view)."""
        return self.asked.keys()

    def get(self, key, default=None):
        self.asked.setdefault(key, default)
        return super().get(key, default)

    def __getitem__(self, key):
        self.asked.setdefault(key, None)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.asked.setdefault(key, None)
        return super().__contains__(key)


#: settings the ops read that are fitted on the training images, no user setting (``pca``'s eigen-decomposition)
FITTED = ("pca_eig",)


def fitted_stand_ins() -> dict:
    """Stand-ins of the :data:`FITTED` values, to build the ops without data (the identity's eigen-decomposition)."""
    import torch

    return {"pca_eig": (torch.ones(3), torch.eye(3))}


def read_keys(names: Sequence[str], params: dict) -> set:
    """The settings the ops ``names`` read from ``params`` (building them without data: ``pca``'s fitted
    eigenvectors are a stand-in here). A grid checks with it that each setting it was given is read by
    some cell before any cell trains."""
    reads = _Reads({**fitted_stand_ins(), **params})
    for n in names:
        if n and n != "none":
            policies.policy_kw(reads) if policies.is_policy_file(n) else get_op(n)(reads)
    return set(reads.read)


class UnreadSettingError(MedtrainError):
    """A setting of the command (:func:`build_batch_augment`'s ``settings``) that no op of ``--augment`` reads.
    Its line ends in what would become of the setting in training: recorded but not used; a command that records
    nothing (``augment show``) says its own ending with :meth:`line`."""

    def __init__(self, setting: str, value, names: Sequence[str]):
        self.setting, self.value, self.names = setting, value, list(names)
        super().__init__(self.line("it would be recorded but not used"))

    def __reduce__(self):
        # rebuilt from its own arguments, not from the message Exception keeps (a pickled one, as a process of a
        # pool sends it back, had failed to load: __init__ takes the setting, value and names)
        return type(self), (self.setting, self.value, self.names)

    def line(self, outcome: str) -> str:
        """The refusal, ending in ``outcome``."""
        return (f"--{self.setting.replace('_', '-')} {self.value}: no augmentation of --augment "
                f"{','.join(self.names) or 'none'} reads it; {outcome}")


def build_batch_augment(names: Sequence[str], params: dict | None = None, given: Iterable[str] = (),
                        settings: Iterable[str] = ()) -> Compose | None:
    """Build the pipeline for a list of op names (``[]`` or ``["none"]`` means no augmentation).

    ``given``: the keys the user set in ``augment_params``; one that no op of ``names`` reads is refused (a
    misspelt ``cutout_sise=8`` trained with the default size and was recorded as if it had been used).
    ``settings``: augmentation settings of the command (``aa_policy``, ``mixup_alpha``...) the user changed from
    their defaults; likewise refused when no op reads them (``--aa-policy svhn`` without ``autoaugment``), with
    :class:`UnreadSettingError` (its line says training's outcome: recorded but not used)."""
    params = _Reads(params or {})
    names = [n for n in names if n and n != "none"]
    ops = []
    for n in names:
        is_file = policies.is_policy_file(n)  # a learned or hand-written policy YAML in the list: as the 'policy' op
        if not is_file and n not in op_names():  # builds it (a path had ignored aa_interpolation and aa_fill, refused)
            raise suggest(n, op_names(), "augmentation", LISTED_BY)
        before = set(params.read)
        try:
            ops.append(policies.build_policy_op(n, **policies.policy_kw(params)) if is_file else get_op(n)(params))
        except (TypeError, ValueError) as e:  # a value of the wrong kind, e.g. cutout_p=abc: float('abc')
            mine = [k for k in given if k in params.read - before] or sorted(params.read - before)
            shown = ", ".join(f"{k}={params.get(k)!r}" for k in mine)
            raise MedtrainError(f"augment_params for {n}: cannot use {shown or 'its settings'} ({e})") from None
    unused = [k for k in given if k not in params.read]
    idle = [k for k in settings if k not in params.read and k not in unused]
    if idle:
        raise UnreadSettingError(idle[0], params.get(idle[0]), names)
    if unused:
        own = sorted(k for k in params.read if k not in params or k in given)
        raise MedtrainError(f"augment_params {', '.join(map(str, unused))}: no augmentation of --augment "
                            f"{','.join(names) or 'none'} reads it"
                            + (f" (they read {', '.join(own)})" if own else ""))
    return Compose(ops) if ops else None
