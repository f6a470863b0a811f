"""Transfer strategies: what of a source model A a target model B copies, freezes and re-draws.

Stages. A CNN is cut into the stages its ``feature_info`` lists (timm), lowest first: for the ResNets,
stage 0 is the *stem* (first convolution and its normalisation), stages 1-4 are ``layer1``-``layer4``.
Parameters between two listed modules belong to the later stage; parameters after the last one (e.g. a
``conv_head``) to the last stage; the classifier is the ``head``, never a stage and never copied.

Strategies (``--transfer``):

* ``scratch``: nothing from A, the model's own random initialisation.
* ``linear-probe``: A frozen as a feature extractor; a linear classifier (logistic regression or linear
  SVM) on its pooled "CNN codes" (Razavian et al., "CNN features off-the-shelf", CVPRW 2014); see
  :mod:`medtrain.transfer.probe`. ``--probe-layer`` picks an earlier stage.
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

:func:`apply_transfer` does it and returns a :class:`TransferPlan`, the record written into the run
(``metrics.json["transfer"]``) and printed as one line when training starts.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from medtrain.errors import MedtrainError, suggest

if TYPE_CHECKING:  # config imports this module to validate; avoid the cycle at run time
    from medtrain.config import Config

__all__ = ["STRATEGIES", "TransferPlan", "apply_transfer", "parse_transfer", "model_stages", "validate_transfer",
           "set_frozen", "GradualUnfreezing"]

STRATEGIES = ("scratch", "linear-probe", "finetune", "finetune-top:K", "partial:K", "scale")
PROBE_CLASSIFIERS = ("logreg", "svm")
HEAD = "head"


def parse_transfer(spec: str) -> tuple[str, int | None]:
    """``"finetune-top:2"`` -> ``("finetune-top", 2)``; ``"finetune"`` -> ``("finetune", None)``."""
    m = re.fullmatch(r"(finetune-top|partial):(\d+)", str(spec))
    if m:
        return m.group(1), int(m.group(2))
    if spec in ("scratch", "linear-probe", "finetune", "scale"):
        return spec, None
    if spec in ("finetune-top", "partial"):
        raise MedtrainError(f"transfer {spec} needs a number of stages: {spec}:K")
    raise suggest(str(spec), STRATEGIES, "transfer strategy")


def validate_transfer(c: "Config") -> None:
    """Config checks of the transfer keys (called by ``medtrain.config.resolve``)."""
    kind, _ = parse_transfer(c.transfer)
    if kind != "scratch" and not c.pretrained:
        raise MedtrainError(f"transfer {c.transfer} needs --pretrained (a run directory, a weights file or timm:NAME)")
    if c.probe_classifier not in PROBE_CLASSIFIERS:
        raise suggest(c.probe_classifier, PROBE_CLASSIFIERS, "probe classifier")
    if c.probe_layer is not None and kind != "linear-probe":
        raise MedtrainError("probe_layer applies to --transfer linear-probe only")
    if not c.backbone_lr_mult > 0:
        raise MedtrainError(f"backbone_lr_mult must be > 0, got {c.backbone_lr_mult}")
    if c.layer_decay is not None and not 0 < c.layer_decay <= 1:
        raise MedtrainError(f"layer_decay must be in (0, 1], got {c.layer_decay}")
    if (c.backbone_lr_mult != 1.0 or c.layer_decay is not None) and kind not in ("finetune", "finetune-top", "partial"):
        raise MedtrainError(f"backbone_lr_mult/layer_decay apply to fine-tuning, not to transfer {c.transfer}")
    if c.unfreeze_every < 0:
        raise MedtrainError(f"unfreeze_every must be >= 0, got {c.unfreeze_every}")
    if c.unfreeze_every and kind != "finetune-top":
        raise MedtrainError("unfreeze_every applies to --transfer finetune-top:K only")


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
    from medtrain.transfer.sources import classifier_prefix

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


_FROZEN_FLAG = "_medtrain_frozen"


def _bn_eval_hook(module: nn.Module, args) -> None:
    # A frozen stage's batch norm must also keep its running statistics: Lightning switches the whole
    # model to train mode every epoch, so the flag is checked on every call instead.
    if getattr(module, _FROZEN_FLAG, False):
        module.training = False


def set_frozen(model: nn.Module, stages: dict[str, int | str], which: set, frozen: bool) -> None:
    """Freeze (or unfreeze) the parameters and batch-norm statistics of the stages in ``which``."""
    for pname, p in model.named_parameters():
        if stages[pname] in which:
            p.requires_grad_(not frozen)
    mods = dict(model.named_modules())
    owners = {pname.rsplit(".", 1)[0] for pname, s in stages.items() if s in which}
    for name in owners:
        m = mods.get(name)
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if not getattr(m, "_medtrain_hooked", False):
                m.register_forward_pre_hook(_bn_eval_hook)
                m._medtrain_hooked = True
            setattr(m, _FROZEN_FLAG, frozen)


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

    def to_dict(self) -> dict:
        return asdict(self)

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
        if self.lr_mult:
            parts.append("lr x " + ",".join(f"{k}={v:.3g}" for k, v in self.lr_mult.items()))
        if self.unfreeze_every:
            parts.append(f"unfreeze one stage every {self.unfreeze_every} epochs")
        return "; ".join(parts)


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


def apply_transfer(model: nn.Module, cfg: "Config", source=None) -> TransferPlan:
    """Apply ``cfg.transfer`` with source weights ``source`` (a :class:`Source`, or read from
    ``cfg.pretrained``) to ``model`` in place, and say what was done.

    Sets ``model.transfer_lr_mult`` (parameter name -> multiplier) and ``model.transfer_deferred``
    (frozen parameters that gradual unfreezing will train later), which the optimiser reads.
    """
    from medtrain.transfer.sources import adapt_state_dict, load_source

    kind, k = parse_transfer(cfg.transfer)
    if kind == "scratch":
        return TransferPlan("scratch", random=["all"], head="model's own")
    if source is None:
        source = load_source(cfg.pretrained)
    if source.model and source.model.split(".")[0] != cfg.model.split(".")[0] and source.run_dir is not None:
        raise MedtrainError(f"the source {source.origin} is a {source.model}; use --model {source.model} "
                            f"(now {cfg.model})")
    state, info = adapt_state_dict(source.state, model)
    stages = model_stages(model)
    names = stage_names(model)
    n = len(names)
    plan = TransferPlan(cfg.transfer, source.origin, names, head=info["head"], first_conv=info["first_conv"])

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
        gen = torch.Generator().manual_seed(int(cfg.seed))
        backbone = params_of(set(range(n)))
        _mean_var_init(model, state, backbone, gen)
        copy = {}
        plan.redrawn = names
    else:  # finetune, finetune-top, linear-probe: every stage from A
        copy = state
        plan.copied = names
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
            model.transfer_deferred = set(params_of(frozen))
            model.transfer_unfreeze = (stages, n, k, cfg.unfreeze_every)
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
    model.transfer_lr_mult = lr_mult
    return plan


try:  # the callback needs Lightning; the strategies themselves do not
    import lightning.pytorch as pl

    class GradualUnfreezing(pl.Callback):
        """Unfreezes one more stage, top down, every ``unfreeze_every`` epochs (ULMFiT, Howard & Ruder 2018).

        Stateless (the trainable set is a function of the epoch), so a resumed run continues exactly.
        """

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            model = pl_module.model
            stages, n, k, every = model.transfer_unfreeze
            top = min(n, k + trainer.current_epoch // every)  # stages trainable this epoch
            set_frozen(model, stages, set(range(n - top, n)), False)
            pl_module.extra_epoch_log = {**getattr(pl_module, "extra_epoch_log", {}), "trainable_stages": top}
except ImportError:  # pragma: no cover
    GradualUnfreezing = None  # type: ignore[assignment]


def transfer_callbacks(model: nn.Module) -> list:
    """Lightning callbacks the model's transfer plan needs (gradual unfreezing), else ``[]``."""
    return [GradualUnfreezing()] if getattr(model, "transfer_unfreeze", None) else []
