"""Transfer strategies: what of a source model A a target model B copies, freezes and re-draws.

Stages (see :mod:`medtrain.models.stages`): the stem, then the stages timm's ``feature_info`` lists; the
classifier is the ``head``, never a stage and never copied.

Strategies (``--transfer``):

* ``scratch``: nothing from A, the model's own random initialisation.
* ``linear-probe``: A frozen as a feature extractor; a linear classifier (logistic regression or linear
  SVM) on its pooled "CNN codes" (Razavian et al., "CNN features off-the-shelf", CVPRW 2014); see
  :mod:`medtrain.training.probe`. ``--probe-layer`` picks an earlier stage.
* ``finetune``: all stages copied and trained with a new head; ``--backbone-lr-mult`` < 1 trains the
  copied stages more slowly than the head, ``--layer-decay d`` gives stage s of S the rate
  ``lr * d**(S - s)`` (the top stage ``lr * d``, the head ``lr``; Howard & Ruder, ULMFiT, ACL 2018's
  discriminative fine-tuning; Bao et al., BEiT, 2022).
* ``finetune-top:K``: all copied, all stages but the last K frozen (parameters fixed, batch-norm
  statistics fixed too); ``--unfreeze-every N`` unfreezes one more stage, top down, every N epochs
  (ULMFiT's gradual unfreezing). ``finetune-top:0`` trains the head alone.
* ``partial:K``: the lowest K stages (stem included, so ``partial:1`` is the stem alone) copied, the
  rest randomly initialised, all trained (Raghu et al., "Transfusion", NeurIPS 2019, Sec. 5; Yosinski
  et al., NeurIPS 2014: lower layers are the general ones).
* ``scale``: Transfusion's Mean-Var initialisation: each parameter tensor of B drawn i.i.d. from
  N(mu, sigma^2) with mu, sigma the mean and std of A's corresponding tensor (after first-conv
  adaptation); no weight is copied, only the per-layer scale. It isolates how much of transfer's
  benefit is "good scaling" rather than features (Raghu et al., Sec. 6).

B's own initialisation (a scratch control's network, ``partial:K``'s upper stages, the new head) is a draw of its
own, not A's: with the same ``seed`` as A (both default 0, and a comparison's seeds 0..N-1 overlap A's), a model
built from the run's random state would be built from exactly the state A was built from, so its "random" stages
would start as A's initial weights (cosine 0.96-0.99 to A after a 1-epoch A). A run with a source (any strategy but
``linear-probe``, which trains nothing of its own) is therefore built, whole (an ensemble's members too), from the
random state of :func:`init_seed` (derived from its seed and a fixed salt, always, whatever A's seed: one rule,
also for sources that record none) by :func:`medtrain.training.build.build_model` (:func:`own_init_seed` says which
seed), in a forked random state (the rest of the run draws from the state the build found); the seed is recorded as
``init_seed`` in ``metrics.json["transfer"]``. The new head and the stages nothing is copied into are that fresh
draw, by the network's own initialisation; ``scale`` then draws its stages from N(mu, sigma^2) with a generator
seeded from the same seed. A run without a source is untouched: its numbers are those it always had.

:func:`apply_transfer` does it and returns a :class:`TransferPlan`, the record written into the run
(``metrics.json["transfer"]``) and printed as one line when training starts. The plan is also recorded in the
run's checkpoints (:class:`~medtrain.training.transfer_callbacks.TransferRecord`): a resumed run takes every weight
from its checkpoint and its plan from that record, so it does not need its source, which may have been moved or
deleted since it started.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from medtrain.config import Config, parse_transfer
from medtrain.errors import MedtrainError
from medtrain.models.pretrained import Source, adapt_state_dict, load_source
from medtrain.models.stages import HEAD, model_stages, set_frozen, stage_names

__all__ = ["TransferPlan", "apply_transfer", "init_seed", "own_init_seed"]

#: what a transfer run's own initialisation seed is derived from, with its seed (:func:`init_seed`)
INIT_SALT = "medtrain transfer: the target's own initialisation"


def init_seed(seed: int) -> int:
    """The seed a run with a source draws its own initialisation with: the first 31 bits of SHA-256 of
    :data:`INIT_SALT` and ``seed``. Not ``seed`` itself, from which a source of the same seed was initialised."""
    return int.from_bytes(hashlib.sha256(f"{INIT_SALT}:{int(seed)}".encode()).digest()[:4], "big") >> 1


def own_init_seed(cfg: Config) -> int | None:
    """The seed ``cfg``'s network is built from (:func:`init_seed`) where the run has a source and trains something
    of its own (every strategy but ``linear-probe``); None: it is built from the run's random state as it is."""
    if not cfg.pretrained or parse_transfer(cfg.transfer)[0] == "linear-probe":
        return None
    return init_seed(cfg.seed)


@dataclass
class TransferPlan:
    """What a strategy did to the target model; written to ``metrics.json["transfer"]``."""

    strategy: str
    source: str | None = None
    stages: list = field(default_factory=list)  #: stage names, lowest first
    copied: list = field(default_factory=list)  #: stages whose weights come from A (a tensor of theirs loaded)
    #: stages not trained: at the start; after gradual unfreezing, those still frozen when training ended
    frozen: list = field(default_factory=list)
    redrawn: list = field(default_factory=list)  #: stages drawn from N(mu, sigma^2) of A's layers (scale)
    random: list = field(default_factory=list)  #: stages with the model's own random initialisation
    head: str = "new"
    first_conv: str = "kept"
    lr_mult: dict = field(default_factory=dict)  #: stage -> learning-rate multiplier (when not all 1)
    unfreeze_every: int = 0
    #: gradual unfreezing: each stage frozen at the start but trained since -> the epoch (from 0, as ``best_epoch``
    #: counts) it was unfrozen in (``transfer.frozen`` had still listed them when the run ended; a user walkthrough),
    #: kept with ``frozen`` by :class:`~medtrain.training.transfer_callbacks.GradualUnfreezing`
    unfrozen_at: dict = field(default_factory=dict)
    copied_tensors: int = 0
    inflated_2d: int = 0  #: 2D kernels of the source inflated to 3D (I3D) for a volume model
    # What identifies the source (load_source's Source.record; None where not known: a hub source is its name):
    source_file: str | None = None  #: the weights file read (a run's model.safetensors, a file, a MedicalNet .pth)
    source_sha256: str | None = None  #: that file's SHA-256
    source_dataset: str | None = None  #: a source run's dataset (its name), as its metrics.json/config.yaml say
    source_data: str | None = None  #: the data file or folder a source run read
    source_seed: int | None = None  #: a source run's seed
    source_medtrain: str | None = None  #: the medtrain version that trained the source
    source_commit: str | None = None  #: its git commit, where recorded
    source_color_space: str | None = None  #: a source run's colour space (its inputs: rgb, hsv, lab, ...)
    #: the seed the run's own initialisation was drawn with (:func:`own_init_seed`); None: the run's own random state
    init_seed: int | None = None
    # What training reads (not written to metrics.json): parameter name -> lr multiplier, the frozen
    # parameters gradual unfreezing trains later, and (stages, S, K, every) for the unfreezing callback.
    param_lr_mult: dict = field(default_factory=dict, repr=False)
    deferred: frozenset = field(default_factory=frozenset, repr=False)
    unfreeze: tuple | None = field(default=None, repr=False)
    #: why the source was not read (None: it was): the weights must then come from the run's checkpoint and the
    #: source's part of the plan (its origin, the first convolution's adaptation...) from its record there
    pending: str | None = field(default=None, repr=False)
    pretrained: str | None = field(default=None, repr=False)  #: the source as configured (``--pretrained``)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in _NOT_RECORDED:
            d.pop(k)
        return d

    def restore(self, recorded: dict) -> None:
        """Take the plan a run recorded when it started (:meth:`to_dict`, kept in its checkpoint)."""
        for k, v in recorded.items():
            if k not in _NOT_RECORDED and hasattr(self, k):
                setattr(self, k, v)
        self.pending = None

    def record_source(self, record: dict) -> None:
        """Take what identifies the source (:attr:`medtrain.models.pretrained.Source.record`), key by key."""
        self.source_file = record.get("file")
        self.source_sha256 = record.get("sha256")
        self.source_dataset = record.get("dataset")
        self.source_data = record.get("data")
        self.source_seed = record.get("seed")
        self.source_medtrain = record.get("medtrain")
        self.source_commit = record.get("commit")
        self.source_color_space = record.get("color_space")

    def summary(self) -> str:
        """One line: ``transfer finetune-top:1 from run runs/A: copied stem,layer1..; frozen ...``."""
        parts = [f"transfer {self.strategy}" + (f" from {self.source}" if self.source else "")]
        for label, items in (("copied", self.copied), ("frozen", self.frozen), ("re-drawn N(mu,sigma)", self.redrawn),
                             ("random", self.random)):
            if items:
                parts.append(f"{label} {','.join(items)}")
        parts.append(f"head {self.head.split(' (')[0]}")
        if self.first_conv != "kept":
            parts.append(f"first conv {self.first_conv}")
        if self.inflated_2d:
            parts.append(f"inflated 2D->3D ({self.inflated_2d} kernels, I3D)")
        if self.lr_mult:
            parts.append("lr x " + ",".join(f"{k}={v:.3g}" for k, v in self.lr_mult.items()))
        if self.unfreeze_every:
            parts.append(f"unfreeze one stage every {self.unfreeze_every} epochs")
        return "; ".join(parts)


class ColorSpaceMismatchWarning(UserWarning):
    """A run transfers from a source run that learned from inputs of another colour space (``--color-space``): a
    walk's linear probe fed an HSV-trained network's frozen stages RGB images without a word."""


#: fields of a plan not recorded: what training reads (rebuilt from the config and the model) and its bookkeeping
_NOT_RECORDED = ("param_lr_mult", "deferred", "unfreeze", "pending", "pretrained")


@torch.no_grad()
def _mean_var_init(model: nn.Module, state: dict, names: list[str], generator: torch.Generator) -> None:
    params = dict(model.named_parameters())
    for n in names:
        src = state[n].float()
        if src.numel() < 2:  # no spread to measure: keep the model's own initialisation
            continue
        mu, sigma = src.mean(), src.std()
        p = params[n]
        p.copy_(torch.randn(p.shape, generator=generator) * sigma + mu)


def _adapted(source: Source, model: nn.Module, cfg: Config) -> tuple[dict, dict]:
    """:func:`~medtrain.models.pretrained.adapt_state_dict`, its "different architecture" naming the model the source
    records (a weights file's metadata, a hub name) where it is not the target's: ``--pretrained
    runs/A/model.safetensors --model auto`` had been refused without saying which ``--model`` the file fits."""
    try:
        return adapt_state_dict(source.state, model)
    except MedtrainError as e:
        if not source.model or source.model.split(".")[0] == cfg.model.split(".")[0]:
            raise
        hint = _volumes_to_images(source, model) or \
            f"{source.origin} records the model {source.model}; use --model {source.model} (now {cfg.model})"
        raise MedtrainError(f"{e}: {hint}") from None


def _volumes_to_images(source: Source, model: nn.Module) -> str | None:
    """Why a source of volumes does not fit a network of 2D images (``model``), or None where that is not it."""
    if any(v.ndim == 5 for v in source.state.values()) and not any(isinstance(m, nn.Conv3d) for m in model.modules()):
        return (f"{source.origin} is a 3D network ({source.model}) and these data are 2D; a 2D source can be "
                "inflated to 3D, not the reverse")
    return None


def _stages_holding(tensors: dict, stages: dict, names: list[str]) -> list[str]:
    """The stages (``names``, lowest first) that hold a tensor of ``tensors``: a parameter's own stage, a buffer's
    (batch-norm statistics) that of its module's parameters."""
    by_module = {p.rsplit(".", 1)[0]: s for p, s in stages.items()}
    held = {stages[t] if t in stages else by_module.get(t.rsplit(".", 1)[0]) for t in tensors}
    return [name for s, name in enumerate(names) if s in held]


def apply_transfer(model: nn.Module, cfg: Config, source: Source | None = None,
                   resume: bool | None = False) -> TransferPlan:
    """Apply ``cfg.transfer`` with source weights ``source`` (a :class:`Source`, or read from
    ``cfg.pretrained``) to ``model`` in place, and say what was done.

    The plan carries what the optimiser and callbacks need: ``param_lr_mult`` (parameter name ->
    multiplier), ``deferred`` and ``unfreeze`` (gradual unfreezing). These depend on the configuration and the
    model alone; the source gives the weights and the plan's record of them (origin, first convolution...).

    ``resume``: True, the run resumes from a checkpoint, which holds every weight: the source is not read (it may
    have moved) and the plan is ``pending`` until :class:`~medtrain.training.transfer_callbacks.TransferRecord`
    restores its record from the checkpoint. None, not known yet: the source is read, and where it cannot be the
    plan is pending too, the error kept for :class:`~medtrain.training.transfer_callbacks.TransferRecord` to raise if
    no checkpoint is restored. False: the source is read, or refused now.
    A linear probe is never pending: its network is the source itself, which no checkpoint holds.
    """
    kind, k = parse_transfer(cfg.transfer)
    if kind == "scratch":  # a scratch control beside a source (build_model applies no transfer without one)
        # (its network was built from own_init_seed's random state: see build_model)
        return TransferPlan("scratch", random=["all"], head="model's own", pretrained=cfg.pretrained,
                            init_seed=own_init_seed(cfg))
    pending = None
    if source is None and resume and kind != "linear-probe":
        pending = f"pretrained: {cfg.pretrained} is not read by a resumed run, and there is no checkpoint to resume"
    elif source is None:
        try:
            source = load_source(cfg.pretrained, data_dir=cfg.data_dir)
        except MedtrainError as e:
            if resume is False or kind == "linear-probe":
                raise
            pending = str(e)
    if pending is None:
        if source.model and source.model.split(".")[0] != cfg.model.split(".")[0] and source.run_dir is not None:
            if (hint := _volumes_to_images(source, model)) is not None:  # no --model takes it: not "use --model"
                raise MedtrainError(f"pretrained: {hint}")
            raise MedtrainError(f"the source {source.origin} is a {source.model}; use --model {source.model} "
                                f"(now {cfg.model})")
        state, info = _adapted(source, model, cfg)
    else:  # its record (origin, first conv, head, inflation, tensors copied) comes from the checkpoint
        state, info = {}, {"head": "new", "first_conv": "unknown"}
    stages = model_stages(model)
    names = stage_names(model)
    n = len(names)
    plan = TransferPlan(cfg.transfer, None if pending else source.origin, names, head=info["head"],
                        first_conv=info["first_conv"], inflated_2d=info.get("inflated", 0), pending=pending,
                        pretrained=cfg.pretrained)
    if not pending:
        plan.record_source(source.record)
        if plan.source_color_space and plan.source_color_space != cfg.color_space:
            warnings.warn(ColorSpaceMismatchWarning(
                f"the source {source.origin} learned from {plan.source_color_space} inputs and this run gives its "
                f"copied stages {cfg.color_space} ones (--color-space {cfg.color_space}), which they did not learn "
                f"from; --color-space {plan.source_color_space} gives them the source's"), stacklevel=2)

    def params_of(which: set) -> list[str]:
        return [p for p, s in stages.items() if s in which]

    params = set(dict(model.named_parameters()))
    if kind == "partial":
        if not 1 <= k <= n:
            raise MedtrainError(f"partial:K needs 1 <= K <= {n} (stages {','.join(names)}), got {k}")
        keep = set(range(k))
        # Copy the lowest K stages: their parameters and their buffers (batch-norm statistics).
        owners = {p.rsplit(".", 1)[0] for p in params_of(keep)}
        copy = {key: v for key, v in state.items()
                if key in params and stages[key] in keep or key not in params and key.rsplit(".", 1)[0] in owners}
        plan.copied, plan.random = names[:k], names[k:]
    elif kind == "scale":
        copy = {}
        plan.redrawn = names
    else:  # finetune, finetune-top, linear-probe: every stage from A
        copy = state
        plan.copied = names
    if not pending:  # the record: the stages a tensor was loaded into, not those the strategy meant to copy
        plan.copied = _stages_holding(copy, stages, names)
    # The new head and partial:K's upper stages are the network's own initialisation, drawn (build_model) from
    # own_init_seed's random state (Transfusion: fresh random ones); a probe trains nothing of its own (None).
    plan.init_seed = own_init_seed(cfg)
    if kind == "scale" and not pending:  # (pending: the checkpoint's weights replace the drawn ones)
        _mean_var_init(model, state, params_of(set(range(n))), torch.Generator().manual_seed(plan.init_seed))
    if copy:
        missing, unexpected = model.load_state_dict(copy, strict=False)
        assert not unexpected, unexpected
    plan.copied_tensors = len(copy)

    lr_mult: dict[str, float] = {}
    if kind == "linear-probe":
        set_frozen(model, stages, set(range(n)), True)
        plan.frozen = names
    if kind == "finetune-top":
        if not 0 <= k <= n:
            raise MedtrainError(f"finetune-top:K needs 0 <= K <= {n} (stages {','.join(names)}), got {k}")
        frozen = set(range(n - k))
        set_frozen(model, stages, frozen, True)
        plan.frozen = [names[s] for s in sorted(frozen)]
        if cfg.unfreeze_every:
            plan.unfreeze_every = cfg.unfreeze_every
            plan.deferred = frozenset(params_of(frozen))
            plan.unfreeze = (stages, n, k, cfg.unfreeze_every)
    if kind in ("finetune", "finetune-top", "partial"):
        for p, s in stages.items():
            if s == HEAD:
                continue
            mult = cfg.backbone_lr_mult
            if cfg.layer_decay is not None:
                mult *= cfg.layer_decay ** (n - s)
            if mult != 1.0:
                lr_mult[p] = mult
                plan.lr_mult[names[s]] = mult
    plan.param_lr_mult = lr_mult
    return plan
