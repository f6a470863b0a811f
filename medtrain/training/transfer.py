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
own, not A's: with the same ``seed`` as A (both default 0, and a comparison's seeds 0..N-1 overlap A's), the model
is built from exactly the random state A was built from, so its "random" stages had started as A's initial weights
(cosine 0.96-0.99 to A after a 1-epoch A). A run with a source therefore re-draws them with :func:`init_seed`
(derived from its seed and a fixed salt, always, whatever A's seed: one rule, also for sources that record none),
recorded as ``init_seed`` in ``metrics.json["transfer"]``; see :func:`_redraw_own_init` for how. A run without a
source is untouched: its numbers are those it always had.

:func:`apply_transfer` does it and returns a :class:`TransferPlan`, the record written into the run
(``metrics.json["transfer"]``) and printed as one line when training starts. The plan is also recorded in the
run's checkpoints (:class:`~medtrain.training.transfer_callbacks.TransferRecord`): a resumed run takes every weight
from its checkpoint and its plan from that record, so it does not need its source, which may have been moved or
deleted since it started.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from medtrain.config import Config, parse_transfer
from medtrain.errors import MedtrainError
from medtrain.models.pretrained import Source, adapt_state_dict, load_source
from medtrain.models.stages import HEAD, model_stages, set_frozen, stage_names

__all__ = ["TransferPlan", "apply_transfer", "init_seed"]

#: what a transfer run's own initialisation seed is derived from, with its seed (:func:`init_seed`)
INIT_SALT = "medtrain transfer: the target's own initialisation"


def init_seed(seed: int) -> int:
    """The seed a run with a source re-draws its own initialisation with: the first 31 bits of SHA-256 of
    :data:`INIT_SALT` and ``seed``. Not ``seed`` itself, from which a source of the same seed was initialised."""
    return int.from_bytes(hashlib.sha256(f"{INIT_SALT}:{int(seed)}".encode()).digest()[:4], "big") >> 1


@dataclass
class TransferPlan:
    """What a strategy did to the target model; written to ``metrics.json["transfer"]``."""

    strategy: str
    source: str | None = None
    stages: list = field(default_factory=list)  #: stage names, lowest first
    copied: list = field(default_factory=list)  #: stages whose weights come from A
    frozen: list = field(default_factory=list)  #: stages not trained (at the start)
    redrawn: list = field(default_factory=list)  #: stages drawn from N(mu, sigma^2) of A's layers (scale)
    random: list = field(default_factory=list)  #: stages with the model's own random initialisation
    head: str = "new"
    first_conv: str = "kept"
    lr_mult: dict = field(default_factory=dict)  #: stage -> learning-rate multiplier (when not all 1)
    unfreeze_every: int = 0
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
    #: the seed the run's own initialisation was re-drawn with (:func:`init_seed`); None: nothing of it re-drawn
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
        """Take what identifies the source (:attr:`medtrain.models.pretrained.Source.record`)."""
        for k, v in record.items():
            if hasattr(self, f"source_{k}"):
                setattr(self, f"source_{k}", v)

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


#: fields of a plan not recorded: what training reads (rebuilt from the config and the model) and its bookkeeping
_NOT_RECORDED = ("param_lr_mult", "deferred", "unfreeze", "pending", "pretrained")


@torch.no_grad()
def _redraw_own_init(model: nn.Module, names: list[str], generator: torch.Generator) -> None:
    """Re-draw the parameters ``names`` from the model's own initial distribution: each tensor's entries randomly
    permuted with ``generator``.

    The model is built (:func:`medtrain.training.build.build_model`) before transfer is applied, by initialisations
    this module cannot repeat with another seed (timm's, torch's defaults, a stem replaced after its network's
    init). Each draws a tensor's entries i.i.d. (normal, truncated normal, uniform) or sets a constant (batch-norm
    weights and biases, a zero-initialised last norm), and a random permutation of an i.i.d. sample is a sample of
    the same distribution: the same initialisation, its values at new places (cosine ~0 to the tensor it came
    from, as between two draws). A kernel inflated from 2D (constant along depth, I3D) keeps each depth fibre
    whole, so it stays an inflated kernel."""
    params = dict(model.named_parameters())
    for n in names:
        p = params[n]
        if p.numel() < 2:
            continue
        if p.ndim == 5 and torch.equal(p, p[:, :, :1].expand_as(p)):  # an inflated kernel: permute its fibres
            t = p.shape[2]
            fibres = p.permute(0, 1, 3, 4, 2).reshape(-1, t)
            fibres = fibres[torch.randperm(len(fibres), generator=generator)]
            p.copy_(fibres.reshape(*p.shape[:2], *p.shape[3:], t).permute(0, 1, 4, 2, 3))
        else:
            flat = p.reshape(-1)
            p.copy_(flat[torch.randperm(flat.numel(), generator=generator)].reshape(p.shape))


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
        volumes = any(v.ndim == 5 for v in source.state.values())
        if volumes and not any(isinstance(m, nn.Conv3d) for m in model.modules()):
            hint = (f"{source.origin} is a 3D network ({source.model}) and these data are 2D; a 2D source can be "
                    f"inflated to 3D, not the reverse")
        else:
            hint = f"{source.origin} records the model {source.model}; use --model {source.model} (now {cfg.model})"
        raise MedtrainError(f"{e}: {hint}") from None


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
        plan = TransferPlan("scratch", random=["all"], head="model's own", pretrained=cfg.pretrained)
        if cfg.pretrained:
            plan.init_seed = init_seed(cfg.seed)
            _redraw_own_init(model, [n for n, _ in model.named_parameters()],
                             torch.Generator().manual_seed(plan.init_seed))
        return plan
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
    if kind != "linear-probe":  # (a probe trains nothing of its own: its classifier is fitted on A's codes)
        plan.init_seed = init_seed(cfg.seed)
        if not pending:  # (pending: the checkpoint's weights replace the drawn ones)
            gen = torch.Generator().manual_seed(plan.init_seed)
            # the model's own draws: the new head, and partial:K's upper stages (Transfusion: fresh random ones)
            own = {HEAD} | (set(range(k, n)) if kind == "partial" else set())
            _redraw_own_init(model, params_of(own), gen)
            if kind == "scale":
                _mean_var_init(model, state, params_of(set(range(n))), gen)
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
