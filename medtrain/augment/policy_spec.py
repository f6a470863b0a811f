"""The policy data model of :mod:`medtrain.augment.policies`: :class:`OpSpec`, :class:`Policy`, the published
AutoAugment / RandAugment / TrivialAugment policies, and their YAML form (``load_policy`` / ``save_policy``).

Plain data, no tensors: :class:`medtrain.augment.policies.PolicyAugment` runs a policy on a batch. See
:mod:`medtrain.augment.policies` for the papers, the magnitude scales and the YAML layout.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from medtrain._yaml import read_yaml_bytes, read_yaml_file, write_yaml
from medtrain.augment._policy_ops import OP_NAMES, OPS, SPACES, STANDARD, WIDE
from medtrain.errors import MedtrainError, suggest

# The ops RandAugment and TrivialAugment draw from (both papers' lists; Invert and Cutout are AutoAugment's only).
RANDAUGMENT_OPS = (
    "Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness",
    "Color", "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize",
)  # fmt: skip
TRIVIALAUGMENT_OPS = RANDAUGMENT_OPS
RANDAUGMENT_MAX_LEVEL = 10.0  # the RandAugment paper's integer scale 0..10
TRIVIALAUGMENT_LEVELS = 31  # TrivialAugmentWide: 31 magnitude bins


# --------------------------------------------------------------------------- data model


@dataclass(frozen=True)
class OpSpec:
    """One step of a sub-policy: apply op ``name`` with probability ``prob`` at level ``magnitude``."""

    name: str
    prob: float
    magnitude: float | None = None

    def as_list(self) -> list:
        m = self.magnitude
        return [self.name, float(self.prob), None if m is None else (int(m) if float(m).is_integer() else m)]


@dataclass
class Policy:
    """A list of sub-policies (each a list of :class:`OpSpec`) and how to draw from it.

    Attributes:
        sub_policies: every sample draws one (uniformly) per layer and applies its ops in order.
        layers: how many sub-policies each sample draws and applies in sequence (RandAugment's N).
        max_level: the magnitude scale: level ``max_level`` is the op's strongest setting.
        space: ``"standard"`` (AutoAugment / RandAugment ranges) or ``"wide"`` (TrivialAugment's).
        random_magnitude: draw a level uniformly in ``0..max_level`` per application (TrivialAugment)
            instead of using the sub-policy's magnitudes.
        name: a label for reports.
        metadata: free-form record (e.g. the search that produced the policy); saved with it.
    """

    sub_policies: list[list[OpSpec]]
    layers: int = 1
    max_level: float = 9.0
    space: str = STANDARD
    random_magnitude: bool = False
    name: str = "custom"
    metadata: dict = field(default_factory=dict)

    def validate(self, where: str = "policy") -> "Policy":
        """Check every field; raise :class:`MedtrainError` naming the first problem."""
        if self.space not in SPACES:
            raise _unknown(str(self.space), SPACES, where, "magnitude space")
        if isinstance(self.layers, bool) or not isinstance(self.layers, int) or self.layers < 1:
            raise MedtrainError(f"{where}: layers must be an integer >= 1, got {self.layers!r}")
        if not isinstance(self.random_magnitude, bool):  # a quoted "false" is a true string
            raise MedtrainError(f"{where}: random_magnitude must be true or false, got {self.random_magnitude!r}")
        if isinstance(self.max_level, bool) or not (isinstance(self.max_level, (int, float)) and self.max_level > 0):
            raise MedtrainError(f"{where}: max_level must be > 0, got {self.max_level!r}")
        if not self.sub_policies:
            raise MedtrainError(f"{where}: needs at least one sub-policy")
        for i, sub in enumerate(self.sub_policies):
            if not sub:
                raise MedtrainError(f"{where}: sub-policy {i} is empty")
            for op in sub:
                at = f"{where}: sub-policy {i}, op {op.name}"
                if op.name not in OPS:
                    raise _unknown(op.name, OP_NAMES, f"{where}: sub-policy {i}", "op")
                # a bool is no number here (true had passed as probability 1), as the layers check has it
                if not (_number(op.prob) and 0.0 <= op.prob <= 1.0):
                    raise MedtrainError(f"{at}: probability must be in [0, 1], got {op.prob!r}")
                needs = OPS[op.name].has_magnitude and not self.random_magnitude
                if needs and op.magnitude is None:
                    raise MedtrainError(f"{at}: needs a magnitude in [0, {self.max_level:g}]")
                if op.magnitude is not None and not OPS[op.name].has_magnitude:  # had been ignored silently
                    raise MedtrainError(f"{at}: takes no magnitude, got {op.magnitude!r}; give null or leave it "
                                        f"out ([{op.name}, {op.prob!r}])")
                if op.magnitude is not None and not (_number(op.magnitude) and 0 <= op.magnitude <= self.max_level):
                    raise MedtrainError(f"{at}: magnitude must be in [0, {self.max_level:g}], got {op.magnitude!r}")
        return self

    def op_names(self) -> list[str]:
        """The distinct ops the policy can apply, in first-use order."""
        return list(dict.fromkeys(op.name for sub in self.sub_policies for op in sub))

    def to_dict(self) -> dict:
        d = {
            "name": self.name,
            "space": self.space,
            "max_level": int(self.max_level) if float(self.max_level).is_integer() else self.max_level,
            "layers": self.layers,
            "random_magnitude": self.random_magnitude,
            "sub_policies": [[op.as_list() for op in sub] for sub in self.sub_policies],
        }
        if self.metadata:
            d["metadata"] = self.metadata
        return d

    @classmethod
    def from_dict(cls, d: Any, where: str = "policy") -> "Policy":
        """Build and validate a policy from its YAML mapping."""
        if not isinstance(d, dict):
            raise MedtrainError(f"{where}: must be a mapping with a 'sub_policies' list")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise _unknown(unknown[0], known, where, "key")
        if not isinstance(d.get("sub_policies"), list):
            raise MedtrainError(f"{where}: 'sub_policies' must be a list of lists of [op, probability, magnitude]")
        subs = []
        for i, sub in enumerate(d["sub_policies"]):
            if not isinstance(sub, list):
                raise MedtrainError(f"{where}: sub-policy {i} must be a list of [op, probability, magnitude]")
            subs.append([_op_from_yaml(op, f"{where}: sub-policy {i}") for op in sub])
        kw = {k: v for k, v in d.items() if k != "sub_policies"}
        if kw.get("metadata") is None:
            kw.pop("metadata", None)
        return cls(sub_policies=subs, **kw).validate(where)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _unknown(name: str, choices, where: str, what: str) -> MedtrainError:
    """``WHERE: unknown WHAT 'NAME'; did you mean ...`` (:func:`medtrain.errors.suggest`'s hint): "unknown" put before
    the op or key, not before ``where`` ("unknown policy file X: sub-policy 0: op 'Rotat'" had read as if the file
    were unknown)."""
    return MedtrainError(f"{where}: {suggest(name, choices, what)}")


def _op_from_yaml(op: Any, where: str) -> OpSpec:
    # Accept [name, p, magnitude] (the saved form), [name, p] for magnitude-free ops, or a mapping.
    if isinstance(op, dict):
        op = [op.get("op", op.get("name")), op.get("prob", op.get("p")), op.get("magnitude")]
    if not isinstance(op, list) or len(op) not in (2, 3) or not isinstance(op[0], str):
        raise MedtrainError(f"{where}: each op must be [op, probability, magnitude], got {op!r}")
    name = _canonical(op[0], where)
    return OpSpec(name, op[1], op[2] if len(op) == 3 else None)


def _canonical(name: str, where: str) -> str:
    """Op names are matched case-insensitively (``equalize`` is ``Equalize``)."""
    by_lower = {n.lower(): n for n in OP_NAMES}
    if name.lower() not in by_lower:
        raise _unknown(name, OP_NAMES, where, "op")
    return by_lower[name.lower()]


# --------------------------------------------------------------------------- published policies

# The policies of the AutoAugment paper's appendix, as torchvision tabulates them: one sub-policy per line,
# "op probability magnitude" per op, "-" for ops without a magnitude.
_PUBLISHED = {
    "imagenet": """
        Posterize 0.4 8 | Rotate 0.6 9
        Solarize 0.6 5 | AutoContrast 0.6 -
        Equalize 0.8 - | Equalize 0.6 -
        Posterize 0.6 7 | Posterize 0.6 6
        Equalize 0.4 - | Solarize 0.2 4
        Equalize 0.4 - | Rotate 0.8 8
        Solarize 0.6 3 | Equalize 0.6 -
        Posterize 0.8 5 | Equalize 1.0 -
        Rotate 0.2 3 | Solarize 0.6 8
        Equalize 0.6 - | Posterize 0.4 6
        Rotate 0.8 8 | Color 0.4 0
        Rotate 0.4 9 | Equalize 0.6 -
        Equalize 0.0 - | Equalize 0.8 -
        Invert 0.6 - | Equalize 1.0 -
        Color 0.6 4 | Contrast 1.0 8
        Rotate 0.8 8 | Color 1.0 2
        Color 0.8 8 | Solarize 0.8 7
        Sharpness 0.4 7 | Invert 0.6 -
        ShearX 0.6 5 | Equalize 1.0 -
        Color 0.4 0 | Equalize 0.6 -
        Equalize 0.4 - | Solarize 0.2 4
        Solarize 0.6 5 | AutoContrast 0.6 -
        Invert 0.6 - | Equalize 1.0 -
        Color 0.6 4 | Contrast 1.0 8
        Equalize 0.8 - | Equalize 0.6 -
    """,
    "cifar10": """
        Invert 0.1 - | Contrast 0.2 6
        Rotate 0.7 2 | TranslateX 0.3 9
        Sharpness 0.8 1 | Sharpness 0.9 3
        ShearY 0.5 8 | TranslateY 0.7 9
        AutoContrast 0.5 - | Equalize 0.9 -
        ShearY 0.2 7 | Posterize 0.3 7
        Color 0.4 3 | Brightness 0.6 7
        Sharpness 0.3 9 | Brightness 0.7 9
        Equalize 0.6 - | Equalize 0.5 -
        Contrast 0.6 7 | Sharpness 0.6 5
        Color 0.7 7 | TranslateX 0.5 8
        Equalize 0.3 - | AutoContrast 0.4 -
        TranslateY 0.4 3 | Sharpness 0.2 6
        Brightness 0.9 6 | Color 0.2 8
        Solarize 0.5 2 | Invert 0.0 -
        Equalize 0.2 - | AutoContrast 0.6 -
        Equalize 0.2 - | Equalize 0.6 -
        Color 0.9 9 | Equalize 0.6 -
        AutoContrast 0.8 - | Solarize 0.2 8
        Brightness 0.1 3 | Color 0.7 0
        Solarize 0.4 5 | AutoContrast 0.9 -
        TranslateY 0.9 9 | TranslateY 0.7 9
        AutoContrast 0.9 - | Solarize 0.8 3
        Equalize 0.8 - | Invert 0.1 -
        TranslateY 0.7 9 | AutoContrast 0.9 -
    """,
    "svhn": """
        ShearX 0.9 4 | Invert 0.2 -
        ShearY 0.9 8 | Invert 0.7 -
        Equalize 0.6 - | Solarize 0.6 6
        Invert 0.9 - | Equalize 0.6 -
        Equalize 0.6 - | Rotate 0.9 3
        ShearX 0.9 4 | AutoContrast 0.8 -
        ShearY 0.9 8 | Invert 0.4 -
        ShearY 0.9 5 | Solarize 0.2 6
        Invert 0.9 - | AutoContrast 0.8 -
        Equalize 0.6 - | Rotate 0.9 3
        ShearX 0.9 4 | Solarize 0.3 3
        ShearY 0.8 8 | Invert 0.7 -
        Equalize 0.9 - | TranslateY 0.6 6
        Invert 0.9 - | Equalize 0.6 -
        Contrast 0.3 3 | Rotate 0.8 4
        Invert 0.8 - | TranslateY 0.0 2
        ShearY 0.7 6 | Solarize 0.4 8
        Invert 0.6 - | Rotate 0.8 4
        ShearY 0.3 7 | TranslateX 0.9 3
        ShearX 0.1 6 | Invert 0.6 -
        Solarize 0.7 2 | TranslateY 0.6 7
        ShearY 0.8 4 | Invert 0.8 -
        ShearX 0.7 9 | TranslateY 0.8 3
        ShearY 0.8 5 | AutoContrast 0.7 -
        ShearX 0.7 2 | Invert 0.1 -
    """,
}
AUTOAUGMENT_POLICIES = tuple(_PUBLISHED)


def _parse_table(text: str) -> list[list[OpSpec]]:
    subs = []
    for line in text.strip().splitlines():
        sub = []
        for op in line.split("|"):
            name, p, m = op.split()
            sub.append(OpSpec(name, float(p), None if m == "-" else int(m)))
        subs.append(sub)
    return subs


def autoaugment_policy(name: str = "imagenet") -> Policy:
    """The AutoAugment policy learned on ``imagenet``, ``cifar10`` or ``svhn`` (Cubuk et al., 2019).

    None of the three contains Cutout as an op; the paper applies Cutout after the policy on CIFAR-10
    and SVHN as part of its baseline pipeline, which ``--augment autoaugment,cutout`` reproduces.
    """
    key = str(name).lower().replace("-", "").replace("_", "")
    if key not in _PUBLISHED:
        raise suggest(str(name), AUTOAUGMENT_POLICIES, "AutoAugment policy")
    return Policy(_parse_table(_PUBLISHED[key]), layers=1, max_level=9, name=f"autoaugment-{key}").validate()


def randaugment_policy(n: int = 2, m: float = 9) -> Policy:
    """RandAugment(N, M): ``n`` ops drawn uniformly from 14, each at level ``m`` of 0..10 (Cubuk et al., 2020)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise MedtrainError(f"RandAugment N (ops per image) must be an integer >= 1, got {n!r}")
    if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0 <= m <= RANDAUGMENT_MAX_LEVEL:
        raise MedtrainError(
            f"RandAugment M (magnitude) must be in [0, {RANDAUGMENT_MAX_LEVEL:g}] (the paper's scale), got {m!r}"
        )
    subs = [[OpSpec(op, 1.0, None if not OPS[op].has_magnitude else m)] for op in RANDAUGMENT_OPS]
    return Policy(subs, layers=n, max_level=RANDAUGMENT_MAX_LEVEL, name=f"randaugment-n{n}-m{m:g}").validate()


def trivialaugment_policy() -> Policy:
    """TrivialAugment (Wide): one op per sample, level uniform in 0..30 of the wide ranges (Müller & Hutter, 2021)."""
    subs = [[OpSpec(op, 1.0, None)] for op in TRIVIALAUGMENT_OPS]
    return Policy(
        subs, layers=1, max_level=TRIVIALAUGMENT_LEVELS - 1, space=WIDE, random_magnitude=True,
        name="trivialaugment-wide",
    ).validate()  # fmt: skip


# --------------------------------------------------------------------------- YAML


def load_policy(path: str | os.PathLike) -> Policy:
    """Read and validate a policy YAML file (the form :func:`save_policy` writes)."""
    return Policy.from_dict(read_yaml_file(path, "policy file"), where=f"policy file {path}")


def policy_record(path: str | os.PathLike) -> dict:
    """A policy file as a run records it (``metrics.json``'s ``augment_policy``): ``file``, the ``sha256`` of its
    bytes (as ``choices.json`` records them, :func:`medtrain.augment.policies.policy_digests`) and ``policy``, the
    content those same bytes hold, as parsed (:meth:`Policy.to_dict`: the sub-policies' [op, probability,
    magnitude], ``layers``, RandAugment's N, ``max_level``, ``space``, ``random_magnitude``, ``name``, ``metadata``):
    a run copied elsewhere, or whose file was deleted or edited, still says what augmentation trained it."""
    import hashlib

    data, d = read_yaml_bytes(path, "policy file")
    policy = Policy.from_dict(d, where=f"policy file {path}")
    return {"file": str(path), "sha256": hashlib.sha256(data).hexdigest(), "policy": policy.to_dict()}


def save_policy(policy: Policy, path: str | os.PathLike, comment: str = "") -> Path:
    """Write ``policy`` as YAML, atomically; ``comment`` lines go on top as ``#`` comments."""
    policy.validate()
    head = ("medtrain augmentation policy: each sample draws a sub-policy per layer and applies its ops\n"
            "[op, probability, magnitude] in order. Load with --augment policy.yaml.\n")
    write_yaml(path, policy.to_dict(), comment=head + comment, flow_lists=True, width=100)
    return Path(path)
