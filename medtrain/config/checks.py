"""The checks of a resolved :class:`Config`: ranges, names, and the settings that exclude each other."""
from __future__ import annotations

import dataclasses
import importlib.util
import re

from medtrain.config import flips
from medtrain.config.settings import (AUGMENT_SETTINGS, CHECKPOINTS, CHOICES, CLASS_WEIGHT_RULES, DROPOUT_KINDS,
                                      LOGGERS, MONITORS, OPTIMIZERS, PARALLEL_STRATEGIES, PRECISIONS,
                                      PROBE_CLASSIFIERS, SCHEDULES, STRATEGIES, TTA_MODES, KEYS, Config)
from medtrain.errors import MedtrainError, suggest


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


def validate_transfer(c: Config) -> None:
    """Checks of the transfer keys (part of :func:`validate`)."""
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


#: the most networks one run trains (``--members``): each is held in memory with its optimiser state and trained in
#: turn, so a count past this was a typo or an out-of-memory traceback (``--members 100000``, a walk), not an ensemble
MAX_MEMBERS = 32
#: the largest ``volume_size``: its cube is the most voxels a volume may have after resampling
#: (:data:`medtrain.data.geometry.MAX_RESAMPLED_VOXELS`, not imported here: it loads torch); 1024 had died
#: allocating 4.3 GB for the first volume, with a traceback (a walk)
MAX_VOLUME_SIDE = 512

def validate(c: Config) -> None:
    """Check every value of ``c`` and the settings that exclude each other; the first fault is a MedtrainError."""
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise MedtrainError(msg)

    need(c.dataset is not None or c.data is not None, "give --dataset NAME or --data PATH")
    need(0.0 <= c.dropout < 1.0, f"dropout must be in [0, 1), got {c.dropout}")
    need(0.0 <= c.drop_path < 1.0, f"drop_path must be in [0, 1), got {c.drop_path}")
    need(0.0 <= c.drop_block < 1.0, f"drop_block must be in [0, 1), got {c.drop_block}")
    need(c.weight_decay >= 0.0, f"weight_decay must be >= 0, got {c.weight_decay}")
    need(c.lr is None or c.lr > 0.0, f"lr must be > 0, got {c.lr}")
    need(c.ema >= 0.0, f"ema (a half-life in epochs) must be >= 0, got {c.ema}")
    need(c.members is None or 1 <= c.members <= MAX_MEMBERS,
         f"members must be 1 to {MAX_MEMBERS} (networks trained and averaged), got {c.members}")
    need((c.members or 1) == 1 or (c.transfer == "scratch" and not c.pretrained),
         f"members {c.members}: an ensemble trains without a source; a run with --pretrained {c.pretrained} "
         f"(transfer {c.transfer}) trains one network" if c.pretrained else
         f"members {c.members}: an ensemble is trained from scratch (transfer {c.transfer} takes one network)")
    need(0.0 <= c.momentum < 1.0, f"momentum must be in [0, 1), got {c.momentum}")
    need(0 <= c.seed < 2 ** 32, f"seed must be an integer from 0 to 2**32 - 1 (NumPy's seeds), got {c.seed}")
    need(c.epochs >= 1, f"epochs must be >= 1, got {c.epochs}")
    need(c.batch_size is None or c.batch_size >= 1, f"batch_size must be >= 1, got {c.batch_size}")
    need(c.patience >= 0, f"patience must be >= 0, got {c.patience}")
    need(c.min_delta >= 0.0, f"min_delta must be >= 0, got {c.min_delta}")
    need(c.early_stop_warmup >= 0, f"early_stop_warmup must be >= 0, got {c.early_stop_warmup}")
    need(0.0 <= c.label_smoothing < 1.0, f"label_smoothing must be in [0, 1), got {c.label_smoothing}")
    need(0.0 < c.val_fraction < 1.0, f"val_fraction must be in (0, 1), got {c.val_fraction}")
    need(0.0 <= c.test_fraction < 1.0, f"test_fraction must be in [0, 1), got {c.test_fraction}")
    need(c.val_fraction + c.test_fraction < 1.0, "val_fraction + test_fraction must be < 1")
    need(c.bootstrap >= 0, f"bootstrap must be >= 0, got {c.bootstrap}")
    need(c.size in (28, 64, 128, 224), f"size must be one of 28, 64, 128, 224, got {c.size}")
    need(all(0.0 < m < 1.0 for m in c.milestones), "milestones are fractions of epochs in (0, 1)")
    if c.optimizer not in OPTIMIZERS:
        raise suggest(c.optimizer, OPTIMIZERS, "optimizer")
    if c.schedule not in SCHEDULES:
        raise suggest(c.schedule, SCHEDULES, "schedule")
    if c.monitor not in MONITORS:
        raise suggest(c.monitor, MONITORS, "monitor metric")
    if c.checkpoint not in CHECKPOINTS:
        raise suggest(c.checkpoint, CHECKPOINTS, "checkpoint rule")
    if c.early_stop is not None and c.early_stop not in MONITORS:
        raise suggest(c.early_stop, MONITORS, "early-stopping metric")
    need(c.mc_dropout >= 0, f"mc_dropout must be >= 0, got {c.mc_dropout}")
    # whatever the dropout kind: -1 had been recorded for a run without annealed dropout, and 0 read as "unset"
    need(c.anneal_epochs is None or c.anneal_epochs >= 1,
         f"anneal_epochs must be an integer >= 1 (unset: epochs - 1), got {c.anneal_epochs}")
    need(c.mc_dropout == 0 or c.dropout > 0,
         f"mc_dropout {c.mc_dropout} needs dropout to sample: give --dropout P > 0 (e.g. 0.5)")
    need(c.mc_dropout == 0 or c.transfer != "linear-probe", "mc_dropout does not apply to a linear probe")
    # each alone, with its value: `augment show --mixup-alpha 0` had named cutmix_alpha too, which was not given
    need(c.mixup_alpha > 0, f"mixup_alpha must be > 0, got {c.mixup_alpha}")
    need(c.cutmix_alpha > 0, f"cutmix_alpha must be > 0, got {c.cutmix_alpha}")
    need(0.0 <= c.erasing_p <= 1.0, f"erasing_p must be in [0, 1], got {c.erasing_p}")
    need(4 <= c.volume_size <= MAX_VOLUME_SIDE,
         f"volume_size must be 4 to {MAX_VOLUME_SIDE} voxels a side, got {c.volume_size}")
    need(c.image_size is None or c.image_size >= 4, f"image_size must be >= 4, got {c.image_size}")
    need(c.folds == 0 or c.folds >= 2, f"folds must be 0 (one fixed split) or >= 2, got {c.folds}")
    need(c.fold is None or (c.folds >= 2 and 0 <= c.fold < c.folds),
         f"fold must be one of 0..folds-1 with folds >= 2, got fold {c.fold} with folds {c.folds}")
    if c.dropout_kind not in DROPOUT_KINDS:
        raise suggest(c.dropout_kind, DROPOUT_KINDS, "dropout kind")
    if c.tta not in TTA_MODES:
        raise suggest(c.tta, TTA_MODES, "test-time augmentation")
    if c.flip not in CHOICES:
        raise suggest(c.flip, CHOICES, "flip")
    if c.class_weights not in CHOICES + CLASS_WEIGHT_RULES:
        raise suggest(c.class_weights, CHOICES + CLASS_WEIGHT_RULES, "class_weights")
    need(c.class_weights not in CLASS_WEIGHT_RULES or c.transfer != "linear-probe",
         f"class_weights {c.class_weights}: a linear probe's classifier is not trained with class weights, so "
         "there is no balanced rule to adjust")
    if c.head != "linear":
        if not re.fullmatch(r"maxout:\d+", c.head):  # (a run's head names its pieces: no bare "maxout")
            raise MedtrainError(f"head must be linear or maxout:K, got {c.head}")
        from medtrain.models.heads import maxout_pieces  # (here: timm is imported with the models)

        maxout_pieces(c.head)  # the pieces' range, the head builder's own rule (maxout:100000: a 26 GB weight)
    from medtrain.color import SPACES
    from medtrain.data.store import STORES

    if c.store not in STORES:
        raise suggest(c.store, STORES, "store")

    if c.color_space.lower() not in SPACES:
        raise suggest(c.color_space, SPACES, "colour space")
    if c.logger not in LOGGERS:
        raise suggest(c.logger, LOGGERS, "logger")
    if LOGGERS[c.logger] and importlib.util.find_spec(LOGGERS[c.logger]) is None:
        raise MedtrainError(f"--logger {c.logger} needs the {LOGGERS[c.logger]} package: "
                            f"pip install 'medtrain[{c.logger}]'")
    if c.strategy not in PARALLEL_STRATEGIES:
        raise suggest(c.strategy, PARALLEL_STRATEGIES, "strategy")
    need(c.num_nodes >= 1, f"num_nodes must be >= 1, got {c.num_nodes}")
    need(_devices_ok(c.devices), f"devices must be a number >= 1, auto, -1 or device indices like 0,1; "
                                 f"got {c.devices!r}")
    if c.precision not in PRECISIONS:
        raise suggest(c.precision, PRECISIONS, "precision")
    if c.operating_point is not None:
        from medtrain.operating_point import parse_operating_point

        parse_operating_point(c.operating_point)
    validate_transfer(c)


def _devices_ok(d) -> bool:
    """What Lightning's ``devices`` takes: a count >= 1, ``auto``, ``-1`` (all) or a list of indices."""
    if isinstance(d, bool):
        return False
    if isinstance(d, int):
        return d >= 1 or d == -1
    if isinstance(d, str):
        d = d.strip()
        return d in ("auto", "-1") or bool(re.fullmatch(r"\d+|\d+(\s*,\s*\d+)+,?", d)) and d not in ("0",)
    if isinstance(d, (list, tuple)):
        return bool(d) and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in d)
    return False


#: Settings a linear probe never reads (:func:`medtrain.training.probe.fit_probe`: frozen codes, extracted once in
#: eval mode, and a scikit-learn classifier whose C is chosen on validation): no optimiser, schedule, epochs or batches
#: of a training loop, no augmentation (its flip choice is "trains no augmentation"), no dropout or head of the network
#: (the codes are the head's input, taken in eval mode), no class weights. ``members``, ``mc_dropout`` and the
#: class-weight rules are refused for a probe in :func:`validate` already.
PROBE_UNREAD = ("optimizer", "lr", "momentum", "weight_decay", "decay_norm_and_bias", "schedule", "milestones",
                "epochs", "batch_size", "label_smoothing", "ema", "checkpoint", "early_stop", "patience", "min_delta",
                "early_stop_warmup", "augment", "augment_params", "cutmix_alpha", "mixup_alpha", "erasing_p",
                "aa_policy", "ra_n", "ra_m", "flip", "class_weights", "dropout", "drop_path", "drop_block",
                "dropout_kind", "head", "anneal_epochs")


def _default(key: str):
    f = KEYS[key]
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def check_probe_read(c: Config, given, from_file=None, resolve_auto=None) -> None:
    """Refuse, for ``transfer: linear-probe``, a setting of ``given`` (the keys the user typed) changed from its
    default that the probe never reads (:data:`PROBE_UNREAD`): ``--ema 0.5`` or ``--class-weights true`` had been
    accepted, recorded and ignored (the latter recorded as "pinned"). Not in :func:`validate`: a grid's settings
    apply to the cells that read them, and the config a resumed or evaluated run carries is not checked.

    ``from_file``: ``(path, settings)`` of the ``--config`` file of a new run, settings asked for as much as typed
    ones (``ema: 0.5`` there had been recorded and ignored), but for a value that a probe run records itself for an
    ``auto`` setting (its lr, batch size, checkpoint: ``resolve_auto``, a config -> the config a run records), so
    that a run's own ``config.yaml`` given as ``--config`` stays trainable."""
    if c.transfer != "linear-probe":
        return
    keys = {k.replace("-", "_") for k in given}
    path, in_file = from_file or (None, {})
    in_file = {k.replace("-", "_") for k in in_file} - keys
    recorded = {}  # what a probe run asked for none of them records
    if in_file and resolve_auto is not None:
        auto = resolve_auto(dataclasses.replace(c, **{k: _default(k) for k in PROBE_UNREAD}))
        recorded = {k: getattr(auto, k) for k in PROBE_UNREAD}
    unread = [k for k in PROBE_UNREAD if _same(getattr(c, k)) != _same(_default(k))
              and (k in keys or k in in_file and _same(getattr(c, k)) != _same(recorded.get(k, _default(k))))]
    if unread:
        shown = ", ".join(f"--{k.replace('_', '-')}" for k in unread if k in keys)
        filed = ", ".join(k for k in unread if k not in keys)
        shown = ", ".join(filter(None, [shown, filed and f"{filed} (in {path})"]))
        them, they = ("it", "it") if len(unread) == 1 else ("them", "they")
        raise MedtrainError(f"{shown}: a linear probe (--transfer linear-probe: frozen codes and a scikit-learn "
                            f"classifier, no training loop) does not read {them}; {they} would be recorded but not used")


def _same(v):
    return tuple(v) if isinstance(v, (list, tuple)) else v


def check_probe_read_for_cells(cfgs, keys) -> None:
    """:func:`check_probe_read`, the check ``train`` makes of its typed flags, for the settings ``keys`` typed once
    for all of ``cfgs`` (a ``compare`` grid's cells, a ``tune`` search's candidates; part of
    :func:`check_typed_for_cells`): refused, in train's one line, where every config is a linear probe that does not
    read them (``compare --transfer linear-probe --flip false --class-weights true --vary probe_layer=...`` had
    trained probes recording both, which ``train`` refuses). A setting some cell reads is not refused: ``--vary
    transfer=scratch,linear-probe --flip false`` flips the scratch cell's training, and the probe cell records it."""
    def refuses(cfg, key) -> bool:
        try:
            check_probe_read(cfg, {key})
        except MedtrainError:
            return True
        return False

    cfgs = list(cfgs)
    unread = [k for k in keys if cfgs and all(refuses(cfg, k) for cfg in cfgs)]
    if unread:
        check_probe_read(cfgs[0], unread)


def check_read(c: Config, given=None) -> None:
    """Refuse a setting changed from its default that the run's other settings never read: ``milestones``
    under a schedule other than multistep (it had been recorded and ignored, as ``--aa-policy`` without
    autoaugment is refused); with ``given`` (the keys typed), also :func:`check_probe_read`, and milestones only
    when typed; :func:`check_typed_for_a_new_run` (flip false with a flipping TTA, image_size on arrays).
    Checked where ``train`` is given the flag, not in :func:`validate`: a grid's setting
    applies to the cells that read it (``--vary schedule=onecycle,multistep --milestones 0.3``), and a saved
    config (a compare cell's ``config.yaml``) must stay loadable and trainable."""
    if given is not None:
        check_probe_read(c, given)
    check_typed_for_a_new_run(c, given)
    if given is not None and "milestones" not in given:
        return
    if c.schedule != "multistep" and tuple(c.milestones) != tuple(Config.milestones):
        raise MedtrainError(f"--milestones {','.join(f'{m:g}' for m in c.milestones)}: schedule {c.schedule} does "
                            "not read them (only multistep does); they would be recorded but not used")


def check_typed_for_a_new_run(c: Config, given=None, memo: dict | None = None) -> None:
    """Refuse, where one of them is in ``given`` (the keys typed; None: all), ``flip: false`` with a test-time
    augmentation that flips (flips are off in training, yet the test images would be flipped), ``flip: auto`` with
    one and an axis it flips that no flip op of the augmentation flips
    (:func:`~medtrain.config.flips.check_tta_flips_trained`: a search that varies ``augment`` or ``tta`` had been
    refused mid-search, by the trial that drew it, inside ``train``), an
    ``image_size`` for data that come at their size (a MedMNIST set, a .npz: it had trained at 28 pixels and
    recorded 32), ``store: mmap`` for DICOM/NIfTI data (never converted to a store: it had been ignored), and
    ``mc_dropout`` with annealed dropout that reaches rate 0 before the last epoch (its passes are identical).
    Part of :func:`check_read`, not of :func:`validate`: a run saved by an older medtrain recorded them
    (``flip: false`` with ``tta: hflip``; ``image_size: 32`` on a .npz; ``dropout_kind: annealed`` with
    ``mc_dropout: 5``) and must stay usable by
    predict, eval, export and explain, which resolve its ``config.yaml``.

    ``memo``: a dict that one check of several configs (a grid's cells, a search's candidates) passes to each
    call, so that what depends on the data alone (whether ``store: mmap`` applies: the label CSV read and each of
    its entries probed, every DICOM header) is found once per data, not once per config; made for that check
    only, so that it never answers for data changed since."""
    keys = None if given is None else {k.replace("-", "_") for k in given}
    if (keys is None or keys & {"flip", "tta"}) and c.flip == "false" and c.tta in flips.FLIPPED_TTA:
        raise MedtrainError(f"flip false turns flips off in training and TTA, but tta {c.tta} flips the test "
                            "images: give --tta none or shift, or --flip true/auto")
    if keys is None or keys & set(flips.FLIP_RULE_KEYS):
        flips.check_tta_flips_trained(c)
    if (keys is None or "image_size" in keys) and c.image_size is not None:
        from medtrain.data import at_their_size

        what = at_their_size(c)
        if what is not None:
            raise MedtrainError(f"--image-size {c.image_size} applies to image folders and CSVs only, not to "
                                f"{what[0]} ({what[1]})")
    if keys is None or "augment_params" in keys:  # a setting of its own given again there had overridden it, unsaid
        both = [k for k in (c.augment_params or {}) if k in AUGMENT_SETTINGS]
        if both:
            raise MedtrainError(f"{both[0]} is a setting of its own (--{both[0].replace('_', '-')}), not an op "
                                f"parameter: give it there, not in augment_params")
    # typed and not its default (64, which every run records: a run's config.yaml given back to train is not refused)
    if keys is not None and "volume_size" in keys and c.volume_size != _default("volume_size"):
        from medtrain.data import not_volumes

        if (what := not_volumes(c)) is not None:
            raise MedtrainError(f"--volume-size {c.volume_size} applies to DICOM/NIfTI volumes only, not to {what}")
    if ((keys is None or keys & {"mc_dropout", "dropout_kind", "anneal_epochs", "epochs"}) and c.mc_dropout
            and c.dropout_kind == "annealed" and (c.anneal_epochs or 0) < c.epochs):
        raise MedtrainError(f"mc_dropout with annealed dropout samples nothing once its rate reaches 0 (by epoch "
                            f"epochs - 1 unless --anneal-epochs is at least --epochs {c.epochs})")
    if (keys is None or "store" in keys) and c.store == "mmap":
        why = _store_not_applied(c, memo)
        if why is not None:
            raise MedtrainError(f"--store mmap: {why}; leave --store out")


def _store_not_applied(c: Config, memo: dict | None) -> str | None:
    """:func:`medtrain.data.store_not_applied` of ``c`` (``store: mmap``), found once per data in ``memo``."""
    from medtrain.data import store_not_applied

    if memo is None:
        return store_not_applied(c)
    key = ("store_not_applied", str(c.data), c.group_column, str(c.data_dir))
    if key not in memo:
        try:
            memo[key] = (store_not_applied(c), None)
        except MedtrainError as e:  # data that cannot be told (a CSV mixing kinds): refused alike, read once
            memo[key] = (None, e)
    why, error = memo[key]
    if error is not None:
        raise error
    return why


def check_typed_for_cells(cfgs, keys, memo: dict | None = None) -> None:
    """Refuse a setting of ``keys`` (typed once for all of ``cfgs``: the base of a ``compare`` grid's cells or of
    a ``tune`` search's candidates) that :func:`check_typed_for_a_new_run` refuses for every one of ``cfgs``, in
    its line for the first; one that some config accepts is not refused: a setting applies to the cells that read
    it (``--image-size 64 --vary data=a.npz,b.csv`` sizes the CSV's images). A linear probe's unread settings
    first, as train refuses them typed (:func:`check_probe_read_for_cells`). ``memo``: as
    :func:`check_typed_for_a_new_run` takes it (None: one for this call), each data read once."""
    memo = {} if memo is None else memo
    check_probe_read_for_cells(cfgs, keys)
    for key in keys:
        refused = None
        for cfg in cfgs:
            try:
                check_typed_for_a_new_run(cfg, {key}, memo)
                break
            except MedtrainError as e:
                refused = refused or e
        else:
            if refused is not None:
                raise refused
