"""``medtrain augment``: list the ops (``list``, :mod:`medtrain.cli._augment_list`), look at augmentations (``show``)
and learn a policy from your data (``search``).

``show`` draws a PNG grid like the figures of the AutoAugment paper: one row per image, the original in the first
column and independent augmented draws next to it, to check that an augmentation keeps the images plausible for the
modality before training with it. Each image is captioned with its target after the draw: Mixup and CutMix pair row
i with row N + 1 - i (the batch reversed, as in training; the rows ordered by class so that the pairs cross classes)
and write the mixed label under each draw (``0.63 benign + 0.37 malignant``; :mod:`medtrain.augment.grid`).

``search`` runs the RandAugment (N, M) grid (or the AutoAugment-style study) of :mod:`medtrain.augment.search` with
short trainings and writes the winning policy as YAML, for ``medtrain train --augment flip,policy.yaml``.
"""
from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

if TYPE_CHECKING:
    from torch import Tensor

from medtrain.cli import _augment_list
from medtrain.errors import MedtrainError

# --augment items that are policies, not fixed ops: the search replaces them rather than stacking them.
_POLICY_OPS = ("autoaugment", "randaugment", "trivialaugment", "policy")


def register(sub) -> None:
    p = sub.add_parser("augment", help="list the ops, show augmentations, search a policy",
                       description="List every augmentation op with its settings, show draws as an image grid, or "
                                   "search a policy on validation (a RandAugment N, M grid or AutoAugment-style "
                                   "sub-policies).")
    asub = p.add_subparsers(dest="augment_command", metavar="ACTION")
    asub.required = True
    _augment_list.register(asub)

    s = asub.add_parser("show", help="write a PNG grid of originals and augmented draws",
                        description="Originals in the first column, augmented draws next to them.")
    _data_flags(s, seed_help="seed of the image choice and the draws (default: the config's, else 0)")
    s.add_argument("--augment", metavar="LIST", help="comma-separated ops and/or policy YAML files, e.g. "
                   "flip,randaugment or policy.yaml (default: the --config file's augment; one of them is needed)")
    s.add_argument("--draws", type=int, default=4, help="augmented draws per image (default 4)")
    s.add_argument("--n", type=int, default=8, help="number of images (rows; default 8)")
    s.add_argument("--split", default="train", choices=("train", "val", "test"), help="split to draw images from (default train)")
    s.add_argument("--aa-policy", default=None, help="autoaugment: imagenet, cifar10 or svhn (default imagenet)")
    s.add_argument("--ra-n", type=int, default=None, help="randaugment: ops per image N (default 2)")
    s.add_argument("--ra-m", type=float, default=None, help="randaugment: magnitude M on 0..10 (default 9)")
    for op, what, default in (("mixup", "mixing weight", 0.2), ("cutmix", "pasted area's share", 1.0)):
        s.add_argument(f"--{op}-alpha", default=None, metavar="A", help=f"{op} and mix: alpha of the Beta(alpha, "
                       f"alpha) the {what} is drawn from (default: the config's, else {default}); as train's --{op}-alpha")
    s.add_argument("--augment-params", metavar="K=V,...", help="op settings as train's --augment-params, e.g. "
                   "jitter_hue=0.05,cutout_size=0.3 (medtrain augment list names each op's; default: the config's)")
    s.add_argument("--out", required=True, metavar="PNG", help="output image: a name ending in .png, or - for standard "
                                                               "output (required)")
    s.set_defaults(func=run_show, out_kind="file")

    r = asub.add_parser("search", help="learn a policy (RandAugment N, M grid or AutoAugment-style) on validation",
                        description="randaugment: train one short model per (N, M) of a grid (and one without "
                                    "RandAugment). autoaugment: an Optuna study (TPE, pruning) over policies of "
                                    "sub-policies of two ops, each with a probability and a magnitude. Either "
                                    "selects on validation and writes the policy as YAML for --augment, then "
                                    "prints the train command that trains as the candidates did (--config, the "
                                    "flags given, the flips). With flip auto the flips are decided once, by two "
                                    "pilot runs, for every candidate.")
    _data_flags(r, seed_help="seed of the candidates' trainings and, for autoaugment, of the study's sampler "
                             "(default: the config's, else 0)")
    # train's flag (a patient column of another name had been split by image: patients in train and validation)
    r.add_argument("--group-column", dest="group_column", metavar="COLUMN",
                   help="CSV: the column naming each row's patient, kept in one split and one fold, as train's "
                        "(default: the config's, else a column patient, patient_id, subject or group if present)")
    r.add_argument("--model", help="architecture (default: the config's)")
    r.add_argument("--batch-size", dest="batch_size", help="batch size (default: the config's)")
    r.add_argument("--accelerator", help="cpu, gpu, mps or auto (default: the config's, else auto)")
    r.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="autoaugment: the study's progress bar (--no-progress: none, for logs) (default: on)")
    r.add_argument("--budget-epochs", type=int, required=True, metavar="E",
                   help="epochs each candidate trains (required; a --config file's epochs are not used)")
    # no argparse defaults: --method autoaugment must tell these given from not given, to refuse them
    r.add_argument("--n-values", metavar="LIST", help="randaugment: grid of N (default 1,2,3)")
    r.add_argument("--m-values", metavar="LIST", help="randaugment: grid of M on 0..10 (default 3,6,9)")
    r.add_argument("--base-augment", metavar="LIST",
                   help="ops applied before RandAugment in every candidate (default: the config's augment)")
    r.add_argument("--no-baseline", action="store_true",
                   help="randaugment: don't train the candidate without RandAugment")
    r.add_argument("--work-dir", metavar="DIR",
                   help="run directories of the candidates (default: beside --out, named after it without its "
                        "extension: --out pol/ra.yaml -> pol/ra-search)")
    r.add_argument("--method", default="randaugment", choices=("randaugment", "autoaugment"),
                   help="randaugment: the (N, M) grid (default); autoaugment: search sub-policies with Optuna")
    r.add_argument("--trials", type=int, metavar="N", help="autoaugment: stop when the study holds N finished trials")
    r.add_argument("--budget", type=float, metavar="MINUTES",
                   help="autoaugment: a deadline for the whole search from the command's start (loading and "
                        "the flip pilots count): no trial starts that the longest trial so far says would end after "
                        "it (the first always starts); a trial training at the deadline stops at the end of the epoch "
                        "it is in (an epoch is not interrupted), then finishes its run (validation, its report), "
                        "recorded pruned (why: budget); writing the policy and the trials' tables comes after")
    r.add_argument("--storage", metavar="URL",
                   help="autoaugment: SQLAlchemy URL of the study database (default sqlite:///WORK_DIR/study.db)")
    r.add_argument("--study-name", metavar="NAME",
                   help="autoaugment: the study's name; also names its trials' folder (WORK_DIR/trials for the "
                        "default, autoaugment; WORK_DIR/trials-NAME otherwise)")
    r.add_argument("--sub-policies", type=int, metavar="K",
                   help="autoaugment: sub-policies in the policy (default 5, as the paper's searched policies)")
    r.add_argument("--seeds", type=int, metavar="K",
                   help="autoaugment: train each trial's policy with K seeds (--seed, --seed + 1, ...; the config's "
                        "seed first) and score it by the mean of their validation AUCs (default 1): one seed's "
                        "moves by about 0.01, as much as the differences the search ranks")
    r.add_argument("--folds", type=int, metavar="K",
                   help="autoaugment: train each trial's policy K times, fold k of train + val held out as "
                        "validation by the k-th (the data's own test split untouched: data without one are refused), "
                        "and score it by the mean of the K validation AUCs: every train + val image validated once "
                        "(not with --seeds)")
    r.add_argument("--out", required=True, metavar="YAML", help="where to write the policy (required)")
    r.set_defaults(func=run_search, out_kind="file")


def _data_flags(p: argparse.ArgumentParser, seed_help: str) -> None:
    from medtrain.config.descriptions import DESCRIPTIONS

    p.add_argument("--config", metavar="YAML", help="YAML file of settings (dataset, data, size, ...)")
    p.add_argument("--dataset", help="MedMNIST dataset name (default: the config's, else pneumoniamnist)")
    p.add_argument("--data", help="a local .npz, an image folder or a CSV")
    p.add_argument("--size", help="MedMNIST image size: 28, 64, 128 or 224 (default: the config's, else 28)")
    # train's flag and help: the loaders' "images are not square; pass --image-size N" names it
    p.add_argument("--image-size", dest="image_size", metavar="N", help=DESCRIPTIONS["image_size"].replace("%", "%%"))
    p.add_argument("--seed", help=seed_help + "; also of the train/val/test split of an image folder or CSV "
                                              "without a split column")


def _config(args: argparse.Namespace, extra: Sequence[str] = ()):
    from medtrain import config as config_mod
    from medtrain.config.checks import check_typed_for_a_new_run

    from_file = config_mod.load_yaml(args.config) if args.config else {}
    keys = ("dataset", "data", "size", "image_size", "seed", *extra)
    flags = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    cfg = config_mod.resolve(from_file, flags)
    check_typed_for_a_new_run(cfg, given=[k for k in flags if k == "image_size"])  # on a .npz: refused as train does
    return cfg


def _numbers(text: str, what: str, kind=float) -> list:
    """``--n-values 1,2`` (``kind=int``) or ``--m-values 5,9.5`` (a whole number as an int), or one line naming it."""
    try:
        vals = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise MedtrainError(f"{what} must be comma-separated {'integers' if kind is int else 'numbers'}, "
                            f"got {text!r}") from None
    return [int(v) if kind is float and v.is_integer() else v for v in vals]


# --------------------------------------------------------------------------- show


def build_pipeline(items: Sequence[str], params: dict, settings: Sequence[str] = (),
                   given: Sequence[str] = ()) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """An augmentation from ``--augment`` items: op names and/or policy YAML files, in order, built as training
    builds its own (:func:`medtrain.augment.build_batch_augment`), ``settings`` (and the ``given`` keys of
    ``augment_params``) refused by training's rule where no op of ``items`` reads them."""
    from medtrain.augment import Compose, UnreadSettingError, build_batch_augment  # (which registers the policy ops)

    try:
        return build_batch_augment(items, params, given=given, settings=settings) or Compose([])
    except UnreadSettingError as e:  # show records nothing: not training's "recorded but not used"
        raise MedtrainError(e.line("the grid would not show it")) from None


def render_grid(images: Tensor, pipeline: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]] | None, draws: int,
                path: str | os.PathLike, title: str = "", **labels) -> Path:
    """:func:`medtrain.augment.grid.render_grid` (imported when called: the CLI starts without torch)."""
    from medtrain.augment.grid import render_grid as render

    return render(images, pipeline, draws, path, title, **labels)


#: ``augment show``'s flags of the settings only some ops read: one typed that no op of ``--augment`` reads is refused
#: (by training's rule, :func:`medtrain.augment.build_batch_augment`'s ``settings``)
SHOW_SETTINGS = ("aa_policy", "ra_n", "ra_m", "mixup_alpha", "cutmix_alpha")


def run_show(args: argparse.Namespace) -> int:
    import dataclasses
    import sys

    import torch

    from medtrain import config as config_mod
    from medtrain._io import is_stream
    from medtrain._out_checks import refuse_a_runs_file
    from medtrain.augment.grid import mixes, pair_order
    from medtrain.data import load_splits
    from medtrain.training.build import augment_params, check_color_space

    stream = is_stream(args.out)  # `--out -` or a pipe: the PNG's bytes alone go there, every message to stderr
    if not stream and Path(args.out).suffix.lower() != ".png":  # a .jpg name had held PNG bytes
        raise MedtrainError(f"--out {args.out}: the grid is written as PNG; give a name ending in .png (or - for "
                            f"standard output)")
    if not stream:
        refuse_a_runs_file(args.out)  # a run's confusion_matrix.png had been written over (badflags walk)
    say = sys.stderr if stream else sys.stdout
    if args.draws < 1 or args.n < 1:
        raise MedtrainError("--draws and --n must be >= 1")
    cfg = _config(args, extra=SHOW_SETTINGS + ("augment_params",))  # as train reads them: coerced, checked
    if args.augment is None and not (args.config and "augment" in config_mod.load_yaml(args.config)):  # (a walk)
        raise MedtrainError("give --augment LIST, or a --config file whose augment: lists the ops")

    splits = load_splits(cfg)
    split = splits.split(args.split)
    if split.images.ndim != 4:
        raise MedtrainError("augment show draws 2-D images; this dataset holds volumes")
    if len(split) == 0:
        raise MedtrainError(f"the {args.split} split is empty")
    check_color_space(cfg, splits)  # hed on grey images: refused as train refuses it
    g = torch.Generator().manual_seed(cfg.seed)
    pick = torch.randperm(len(split), generator=g)[: args.n].sort().values
    if args.n > len(split):  # it had shown fewer rows than asked without a word (a bad-input walk)
        print(f"note: --n {args.n}: the {args.split} split holds {len(split)} images; the grid shows them all", file=say)
    items = [v.strip() for v in args.augment.split(",") if v.strip()] if args.augment is not None else list(cfg.augment)
    # the op settings as training reads them (the config, its augment_params, pca fitted on the training images)
    params = augment_params(dataclasses.replace(cfg, augment=tuple(items)), splits)
    pipeline = build_pipeline(items, params, settings=[k for k in SHOW_SETTINGS if getattr(args, k) is not None],
                              given=tuple(cfg.augment_params))  # a setting no op reads: refused, as train does
    name = cfg.dataset or Path(cfg.data).name
    title = f"{name}: {', '.join(items)}" + "".join(f"\n{k}={v}" for k, v in cfg.augment_params.items())
    if mixes(pipeline):  # the pairs a mixing op makes cross classes where the images shown allow
        pick = pick[pair_order(split.labels[pick], splits.task)]
        title += f"\nrows i and {len(pick) + 1} - i are mixed; under each image: its target"
    if cfg.color_space.lower() != "rgb":
        print(f"note: color_space {cfg.color_space}: the network converts its input to {cfg.color_space} after the "
              f"augmentation, so the grid shows the draws in RGB, as the augmentations see them", file=say)
    torch.manual_seed(cfg.seed)
    out = render_grid(split.images[pick], pipeline, args.draws, args.out, title=title, labels=split.labels[pick],
                      label_names=splits.label_names, task=splits.task)
    print(f"wrote {'a PNG to standard output' if str(args.out) == '-' else out}", file=say)
    return 0


# --------------------------------------------------------------------------- search


def _check_train_accepts_policy_files(base: list, params: dict, work_dir: Path) -> None:
    """Fail before any training if ``--augment`` of training does not take policy files."""
    from medtrain.augment import build_batch_augment
    from medtrain.augment.policies import randaugment_policy, save_policy
    import tempfile

    # A file of its own (not a fixed name in work_dir), so searches sharing a work dir cannot delete each
    # other's probe between writing and reading it.
    fd, name = tempfile.mkstemp(prefix=".probe-", suffix=".yaml", dir=work_dir)
    os.close(fd)
    probe = Path(name)
    try:
        save_policy(randaugment_policy(1, 1), probe)
        build_batch_augment([*base, str(probe)], params)
    except MedtrainError as e:
        raise MedtrainError(f"training cannot take a policy file in --augment here ({e})") from None
    finally:
        probe.unlink(missing_ok=True)


def run_search(args: argparse.Namespace) -> int:
    import dataclasses

    from medtrain.cli._clock import command_started

    started = command_started()  # autoaugment's --budget counts from the command's start: the process's

    from medtrain._out_checks import refuse_a_runs_file
    from medtrain._train_inputs import check_settings
    from medtrain.augment.policies import is_policy_file
    from medtrain.config.flips import check_tta_flips_trained
    from medtrain.data import load_splits
    from medtrain.training.distributed import check_devices
    from medtrain.augment.search import DEFAULT_M, DEFAULT_N, check_grid, randaugment_grid_search
    from medtrain.policy_search import flips_off, grid_flips, make_train_fn, trained_base

    if not is_policy_file(args.out):  # --augment reads a policy file by its extension: 'as' is an unknown op there
        raise MedtrainError(f"--out {args.out}: a policy is written as YAML; give a name ending in .yaml (or .yml), "
                            f"which --augment reads as a policy file")
    refuse_a_runs_file(args.out)  # a run's config.yaml had been written over by the policy (badflags walk)
    cfg = _config(args, extra=("model", "batch_size", "accelerator", "group_column", "progress"))
    _refuse_other_methods_flags(args)
    ns = _numbers(args.n_values, "--n-values", int) if args.n_values is not None else list(DEFAULT_N)
    ms = _numbers(args.m_values, "--m-values") if args.m_values is not None else list(DEFAULT_M)
    if args.base_augment is not None:
        base = [v.strip() for v in args.base_augment.split(",") if v.strip() and v.strip() != "none"]
    else:
        # The config's own augmentation, without any policy it already names (the search replaces those).
        base = [a for a in cfg.augment if a != "none" and a not in _POLICY_OPS and not is_policy_file(a)]
    # what train would refuse, refused before any folder or study exists (an unknown base augmentation or
    # unreadable data left an empty work folder, or a study that blocked the corrected command)
    check_settings(dataclasses.replace(cfg, augment=tuple(base)))
    check_devices(cfg)  # an unknown or absent accelerator: train's one line, before the flip pilots start Lightning
    # flip auto + a TTA flipping an axis the base never flips (config.flips.trained_flip_axes: flip ops, flip_p,
    # rot90): train's refusal, asked here for every work folder (an old one
    # whose candidates each chose their flips, with no flip.json, had been refused by its first new candidate)
    check_tta_flips_trained(dataclasses.replace(cfg, augment=tuple(base) or ("none",)))
    out = Path(args.out)
    work = _work_dir(args.work_dir, out)
    splits = load_splits(cfg)  # read once: the flips' pilots train on it too
    if args.method == "autoaugment":
        return _run_autoaugment_search(args, cfg, base, work, out, splits, started)
    # the grid and the budget, refused before the work folder exists (an empty one was left behind)
    check_grid(ns, ms)
    if args.budget_epochs < 1:
        raise MedtrainError(f"--budget-epochs must be an integer >= 1, got {args.budget_epochs}")
    created = not work.exists()
    work.mkdir(parents=True, exist_ok=True)
    try:
        _check_train_accepts_policy_files(base, cfg.to_dict(), work)
        # flip auto: decided once for the grid (each candidate had run two pilot runs), pinned for every candidate
        pin = grid_flips(cfg, base, args.budget_epochs, work, lambda line: print(line, flush=True), splits)
    except MedtrainError:  # nothing trained: the folder made for the search is not left behind
        if created:
            shutil.rmtree(work, ignore_errors=True)
        raise
    trained = trained_base(base, flips_off(cfg, pin))  # the ops the candidates apply: flip false drops the flips
    result = randaugment_grid_search(
        make_train_fn(cfg, work, pin=pin, say=lambda line: print(line, flush=True)), n_values=ns, m_values=ms, base_augment=trained,
        include_baseline=not args.no_baseline, budget_epochs=args.budget_epochs, out=out,
        log=lambda line: print(line, flush=True),
    )  # fmt: skip
    print(result.table())
    print(f"wrote {out}; train with: {train_command(args, cfg, pin.get('flip'), trained, out)}")
    return 0


def _work_dir(given: str | None, out: Path) -> Path:
    """The candidates' folder: ``--work-dir`` (``given``), else beside ``--out`` named after it, checked before
    anything is written (:func:`medtrain._io.check_output`): a file, a path under one, or a folder that cannot be
    written in is refused in one line (its mkdir had ended the search in a FileExistsError, NotADirectoryError or
    FileNotFoundError traceback). An empty ``--work-dir ""`` is refused, not read as the default."""
    from medtrain._io import check_output

    if given == "":
        raise MedtrainError(f"--work-dir is empty; give the candidates' folder, or leave --work-dir out for the "
                            f"default beside --out ({out.parent / f'{out.stem}-search'})")
    work = Path(given) if given is not None else out.parent / f"{out.stem}-search"
    what = "--work-dir " if given is not None else \
        "the work folder (named after --out; choose another with --work-dir) "
    check_output(work, folder=True, what=what, probe=True)
    return work


def train_command(args: argparse.Namespace, cfg, flip: str | None, base: list, out: Path) -> str:
    """The ``medtrain train`` command that trains with the policy as the search's candidates trained: its
    ``--config`` and the settings flags given (model, data, ...), the flips it decided once (``flip``, or None)
    and the base augmentation the candidates applied (``base``) before the policy. The line had named only the
    dataset, so it trained another model (the default network, flips back on) than the one the policy was
    chosen for; the search's ``--budget-epochs`` are not carried (the training's own epochs are the config's)."""
    import shlex

    parts = ["medtrain", "train"]
    if args.config:
        parts += ["--config", str(args.config)]
    for key in ("dataset", "data", "size", "image_size", "seed", "group_column", "model", "batch_size", "accelerator"):
        if getattr(args, key, None) is not None:
            parts += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    if not args.config and args.dataset is None and args.data is None:  # the default dataset, named
        parts += ["--dataset", str(cfg.dataset)]
    if flip is not None:
        parts += ["--flip", flip]
    return shlex.join([*parts, "--augment", ",".join([*base, str(out)])])


def _refuse_other_methods_flags(args: argparse.Namespace) -> None:
    """A flag of the other ``--method`` is refused, both ways (they were accepted and silently ignored)."""
    if args.method == "randaugment":
        given = [f for f, v in (("--trials", args.trials), ("--budget", args.budget), ("--storage", args.storage),
                                ("--study-name", args.study_name), ("--sub-policies", args.sub_policies),
                                ("--seeds", args.seeds), ("--folds", args.folds))
                 if v is not None]  # given at all, as the grid's own flags are refused by the other method
        if given:
            raise MedtrainError(f"{given[0]} applies to --method autoaugment; the RandAugment grid trains every "
                                f"(N, M) of --n-values x --m-values")
    else:
        given = [f for f, v in (("--n-values", args.n_values), ("--m-values", args.m_values),
                                ("--no-baseline", args.no_baseline or None)) if v is not None]
        if given:
            raise MedtrainError(f"{given[0]} applies to --method randaugment; the AutoAugment-style search draws "
                                f"its policies with Optuna (its first trial is the policy that applies nothing)")


def _run_autoaugment_search(args: argparse.Namespace, cfg, base: list, work: Path, out: Path, splits,
                            started: float) -> int:
    from medtrain.policy_search import autoaugment_search

    policy = autoaugment_search(cfg, work, out, base_augment=base, budget_epochs=args.budget_epochs,
                                trials=args.trials, budget_minutes=args.budget, storage=args.storage,
                                study_name=args.study_name or "autoaugment",
                                sub_policies=5 if args.sub_policies is None else args.sub_policies, log=print,
                                splits=splits, started=started, seeds=1 if args.seeds is None else args.seeds,
                                folds=args.folds)
    search = policy.metadata["search"]
    flip = search["flip"] if search["flip"] != cfg.flip else None  # decided once for the study: carried
    print(f"wrote {out}; train with: {train_command(args, cfg, flip, search['base_augment'], out)}")
    return 0
