"""``medtrain eval RUN --data EXTERNAL``: a finished run scored on labelled data it never saw (external testing).

Every labelled input of ``EXTERNAL`` is test data: a CSV of ``path,label[,patient]`` (read by the one CSV reader,
:func:`medtrain.data.table.read_label_csv`; its patient column the run's own ``group_column`` where the header names
it, else one a training CSV's would be found by), a folder of class sub-folders, or a MedMNIST-layout ``.npz`` (its
``--split``). The images are prepared as ``predict`` prepares them (:mod:`medtrain.predictor`), and scored as
``medtrain eval`` scores the run's own test split (:func:`medtrain.evaluation.evaluate_split`): with the run's
TTA, MC dropout, calibration temperature and operating point, all frozen as chosen on the run's validation
split, and bootstrap intervals over the CSV's patients where it names them. The labels must be the run's class
names; nothing is fitted on the external data. A multi-label run takes an .npz, whose ``{split}_labels`` hold
one 0/1 column per label of the run ``(N, L)``, as the run's own multi-label splits are read
(:mod:`medtrain.data.medmnist`), or a CSV in either multi-label form (:mod:`medtrain.data.table`: labels joined in
a cell, or one 0/1 column per label; read as multi-label where no cell joins two, an empty cell an image of no
label), its labels matched to the run's by name (:func:`_csv_label_rows`); not a folder, which names one label per
sub-folder.
"""
from __future__ import annotations

import hashlib
import os
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import torch

from medtrain import rundir
from medtrain._external_report import draw_external_plots, target_missed
from medtrain._io import path_kind, why_not_read
from medtrain.data import Split
from medtrain.data._npz import _read_npz
from medtrain.data._volume_notes import notes_once
from medtrain.data.duplicates import DuplicateImagesWarning, seen_in
from medtrain.data.medmnist import _check_labels
from medtrain.data._table_checks import GROUP_COLUMNS, text_key
from medtrain.data.table import LabelTable, read_label_csv
from medtrain.errors import MedtrainError
from medtrain.models.weights import read_meta
from medtrain.runscores import score_and_keep, write_eval_predictions, write_scores
from medtrain.predict_inputs import conform, iter_inputs
from medtrain.rundir import run_splits
from medtrain.runmodel import RunModel, load_run_module
from medtrain.tasks import MULTILABEL


def readable_name(data: str | os.PathLike, split: str) -> str:
    """The readable part of the data's name: its stem, and the split of an .npz other than test (an .npz's train
    and test splits had written one file, the second over the first)."""
    stem = Path(data).stem or "data"
    return f"{stem}_{split}" if Path(data).suffix.lower() == ".npz" and split != "test" else stem


def data_digest(data: str | os.PathLike, split: str) -> str:
    """8 hex digits of the data's resolved absolute path and its split: the same data, however it is reached (a
    relative path, a link), gives the same digits, other data others."""
    key = f"{Path(data).resolve()}\0{split}"
    return hashlib.blake2b(key.encode(), digest_size=4).hexdigest()


def external_name(data: str | os.PathLike, split: str) -> str:
    """The data's name in file names: :func:`readable_name`, then always :func:`data_digest`. The stem alone had
    named /site_a/test.csv and /site_b/test.csv alike, so the second evaluation had overwritten the first and
    ``eval --vs --data`` had read the other site's scores. Always added, not only where a name is taken: the name
    is then the data's alone (not which was scored first, nor the files a run folder holds), one that
    ``--vs``, scripts and :func:`external_file` compute without looking, and the same data scored again writes
    over its own file."""
    return f"{readable_name(data, split)}_{data_digest(data, split)}"


def external_file(data: str | os.PathLike, split: str = "test") -> str:
    """The run's file of an external evaluation: ``eval_external_<stem>[_<split>]_<digest>.json``
    (:func:`external_name`)."""
    return f"eval_external_{external_name(data, split)}.json"


def external_predictions_file(data: str | os.PathLike, split: str = "test") -> str:
    """Its per-image predictions: ``predictions_external_<stem>[_<split>]_<digest>.csv``, as
    ``predictions_test.csv``."""
    return f"predictions_external_{external_name(data, split)}.csv"


class LabelsByIndexWarning(UserWarning):
    """An .npz's class indices scored against a run whose classes have names: the mapping used, said."""


_SHOWN = 10  #: the classes a LabelsByIndexWarning names


def _npz_labels(data: Path, run: RunModel, split: str) -> list:
    """The labels of an .npz split: one class name per image, or (multi-label run) one tuple of 0/1 per image,
    checked against the run's classes (labels), each a one-line error."""
    key = f"{split}_labels"
    # the one .npz reader train and predict use: text, Git LFS pointers, truncated or empty files and object
    # arrays are each one line (a plain np.load had been a traceback), and labels are checked as train checks them
    raw = _check_labels(_read_npz(data, (key,), split=split)[key], f"{data}: {key}")
    k = len(run.label_names)
    if run.meta["task"] != MULTILABEL:
        if raw.ndim == 2 and raw.shape[1] != 1:  # column 0 alone had been scored
            raise MedtrainError(f"{data}: {key} has shape {raw.shape}, but the run is single-label: one class index "
                                f"per image, (N,) or (N, 1)")
        labels = raw.reshape(-1)
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise MedtrainError(f"{data}: {split}_labels hold class indices outside 0..{k - 1}")
        names = list(run.label_names)
        if names != [str(i) for i in range(k)]:  # a user whose 0 means the run's second class had read 0.32 unwarned
            mapping = ", ".join(f"{i} = {n}" for i, n in enumerate(names[:_SHOWN]))
            warnings.warn(LabelsByIndexWarning(
                f"{data}: labels read by index: {mapping}{', ...' if k > _SHOWN else ''} (the run's classes in "
                f"their order); where yours mean others, give a CSV of path,label naming them"), stacklevel=4)
        return [names[int(v)] for v in labels]
    if raw.ndim != 2 or raw.shape[1] != k:
        raise MedtrainError(f"{data}: {split}_labels has shape {raw.shape}, but the run has {k} labels "
                            f"({', '.join(run.label_names)}); a multi-label run takes (N, {k}), one 0/1 column "
                            f"per label")
    if raw.dtype.kind not in "biuf" or not np.isin(raw, (0, 1)).all():  # NaN and 0.5 fail isin too
        raise MedtrainError(f"{data}: {split}_labels of a multi-label run must be 0/1 (one column per label)")
    return [tuple(int(v) for v in row) for row in raw]


def _csv_label_rows(table: LabelTable, run: RunModel) -> list[tuple[int, ...]]:
    """Each row of a CSV read for a multi-label run as 0/1 per label in the run's order, the CSV's labels matched to
    the run's by name (columns or cells in any order). Labels joined in cells name only those an image holds, so
    a run's label no cell names is never positive; 0/1 columns name every label, so each of the run's needs one.
    ``table`` is read as multi-label (``read_label_csv(..., multilabel=True)``): a CSV where no cell joins two
    labels names one per row, an empty cell none.

    Raises:
        MedtrainError: in one line naming them, labels that are not the run's, or a label column of the run's
            missing."""
    names, given = list(run.label_names), table.label_names
    # one name in either Unicode form (an accent composed or decomposed, as macOS and Excel may write it): the same
    # text, matched as such ('Cardiomégalie' had been refused as not the run's 'Cardiomégalie')
    as_given = {unicodedata.normalize("NFC", g): g for g in given}
    ours = {unicodedata.normalize("NFC", n) for n in names}
    missing = [n for n in names if unicodedata.normalize("NFC", n) not in as_given] if table.by_columns else []
    extra = [g for g in given if unicodedata.normalize("NFC", g) not in ours]
    if missing or extra:
        said = [f"no column for label{'s' * (len(missing) > 1)} {', '.join(map(repr, missing))}"] if missing else []
        said += [f"label{'s' * (len(extra) > 1)} {', '.join(map(repr, extra))} {'are' if len(extra) > 1 else 'is'} "
                 f"not one of the run's"] if extra else []
        cased = [f"{g!r} is the run's {n!r} in another case" for g in extra for n in names if text_key(g) == text_key(n)]
        raise MedtrainError(f"{table.source}: {'; '.join(said + cased)} (the run's labels: {', '.join(names)}; "
                            f"matched by name, in any order)")
    return [tuple(row) for row in table.label_matrix([as_given.get(unicodedata.normalize("NFC", n), n)
                                                      for n in names]).tolist()]


def _labelled(data: Path, run: RunModel, split: str, skip_bad: bool = False
              ) -> tuple[list[str], list, torch.Tensor, list | None, list[dict]]:
    """(input names, labels, images ``(N, C, *spatial)`` uint8, patient hashes or None, skipped inputs) of
    ``data``; a label is a class name, or (multi-label run) a tuple of 0/1 per label. With ``skip_bad`` an input
    that is missing or does not decode is listed with the reason and left out, as ``predict --skip-bad`` and
    training's ``--skip-bad`` leave it out, else it is an error. Image files are held to the run's bit depth
    (:attr:`RunModel.image_depth`), as predict's are."""
    kind = path_kind(data)
    if kind is None:  # a FIFO is refused unread, and said to be one
        raise MedtrainError(f"{data}: {why_not_read(data)}")
    is_npz = kind == "file" and data.suffix.lower() == ".npz"
    if run.meta["task"] == MULTILABEL and kind == "dir":  # a folder names one label per input
        raise MedtrainError(f"{data}: multi-label runs take an .npz with one 0/1 column per label ({split}_labels "
                            f"of shape (N, {len(run.label_names)})) or a CSV naming each image's labels, not a folder")
    if data.suffix.lower() != ".npz" and split != "test":
        raise MedtrainError(f"--split {split} chooses a split of an .npz; {data} is no .npz (all of it is test)")
    skipped: list[dict] = []

    def listed(entry, label, group):  # the items of one labelled entry, or none if it is skipped
        try:
            return [(item, label, group) for item in iter_inputs([entry], run)]
        except MedtrainError as e:
            if not skip_bad:
                raise
            skipped.append({"input": str(entry), "reason": str(e)})
            return []

    if is_npz:
        labels = _npz_labels(data, run, split)
        items = list(iter_inputs([data], run, split=split, alone=True))
        if len(items) != len(labels):  # zip had scored the shorter of the two, silently
            raise MedtrainError(f"{data}: {split} has {len(items)} images but {len(labels)} labels")
        rows = [(item._replace(name=f"{split}/{item.name}"), label, None)  # named as splits.csv names them
                for item, label in zip(items, labels)]
    elif kind == "file":
        multi = run.meta["task"] == MULTILABEL
        # the run's --group-column, where the site's CSV has it: read without it, its patients had been images
        table = read_label_csv(data, multilabel=multi, known_group=run.cfg.group_column)
        labels = _csv_label_rows(table, run) if multi else table.labels
        groups = table.groups or [None] * len(table.labels)
        rows = [row for entry, label, group in zip(table.resolve(), labels, groups)
                for row in listed(entry, label, group)]
    else:
        rows = []
        for item in iter_inputs([data], run):
            parts = Path(item.name).relative_to(data).parts
            if len(parts) < 2:
                raise MedtrainError(f"{item.name}: not in a class sub-folder of {data} (its folder names the label)")
            rows.append((item, parts[0], None))
    kept, images = [], []
    for item, label, group in rows:
        try:
            images.append(conform(item.load(), item.name, run))
        except MedtrainError as e:
            if not skip_bad:
                raise
            skipped.append({"input": item.name, "reason": str(e)})
            continue
        kept.append((item.name, label, group))
    if not kept:
        raise MedtrainError(f"{data}: no labelled image to score" + (f" ({len(skipped)} skipped)" if skipped else ""))
    names, truth, groups = (list(c) for c in zip(*kept))
    return names, truth, torch.stack(images), (groups if kind == "file" and groups[0] is not None else None), skipped


class UngroupedExternalWarning(UserWarning):
    """An external CSV without a patient column scored by a run whose test intervals were over patients: its
    intervals are over images, narrower where a patient has several images."""


def _finished_metrics(run_dir: Path) -> dict | None:
    """The run's ``metrics.json``, read once for what ``eval --data`` says and writes of the run (its test patients,
    its report); None for a run not finished, or whose file cannot be read (nothing to compare with or add to)."""
    if not rundir.is_finished(run_dir):
        return None
    try:
        return rundir.read_metrics(run_dir)
    except MedtrainError:
        return None


def _say_ungrouped(run_dir: Path, metrics: dict | None, run: RunModel, data: Path, groups: list | None) -> None:
    """One line where ``data`` is a CSV naming no patient but the run's own test split was grouped by patient
    (its ``metrics.json`` counts test patients): the printed line had only lost its "over N patients"."""
    if groups is not None or data.suffix.lower() == ".npz" or not data.is_file():
        return
    patients = ((metrics or {}).get("test") or {}).get("patients")
    if patients:
        names = run.cfg.group_column or "|".join(GROUP_COLUMNS)
        warnings.warn(UngroupedExternalWarning(
            f"{data}: no patient column ({names}), so its intervals are over images; {run_dir}'s test intervals "
            f"were over {patients} patients: add the column for intervals a clinical reader can compare"),
            stacklevel=3)


def _unknown_labels(unknown: list[str], names: list[str]) -> str:
    """The labels of external data that are not the run's classes, each named with the class it differs from only
    in case (``'Normal' (the run's 'normal')``), as training's own label checks treat case."""
    keys = {text_key(n): n for n in names}
    return ", ".join(repr(u) + (f" (the run's {keys[text_key(u)]!r}: labels differ only in case)"
                                if text_key(u) in keys else "") for u in unknown)  # (Unicode forms already matched)


class UncheckedExternalWarning(UserWarning):
    """External data could not be checked for the images the run trained on: its own data cannot be read."""


def _seen_in_run(run_dir: Path, run: RunModel, images: torch.Tensor, data: Path) -> tuple[dict | None, str | None]:
    """How many external images are pixel-identical to the run's training and validation images (a user's
    "external" CSV had listed the files the run trained on, and scored 0.84 where unseen images scored 0.69);
    said in one line. None, and why, where the run's data cannot be read any more (an archived run, data moved):
    said in one line too, since the scores are then of images not known to be unseen (it had been silent)."""
    try:
        seen = seen_in(images, run_splits(run_dir, run.cfg))
    except MedtrainError as e:
        warnings.warn(UncheckedExternalWarning(f"{data} could not be checked for images {run_dir} trained on: {e}"))
        return None, str(e)
    if seen["any"]:
        warnings.warn(DuplicateImagesWarning(
            f"{data}: {seen['any']} of its {len(images)} images are pixel-identical to images {run_dir} "
            f"trained on ({seen['train']} training, {seen['val']} validation): they are not external data"))
    return seen, None


def _check_same_run(run_dir: Path, run) -> RunModel:
    """``run``, where it is the run of ``run_dir``: its settings and its weights' metadata (the fitted temperature,
    the epoch kept, the data's normalisation...) those the folder holds. Another folder's run had been scored and
    its scores written into ``run_dir``, its images checked against ``run_dir``'s data. One error line otherwise."""
    if not isinstance(run, RunModel):
        raise MedtrainError(f"evaluate_external: run is the loaded run of {run_dir} (load_run_module({str(run_dir)!r}))"
                            f" or None, not a {type(run).__name__}")
    if not rundir.is_run(run_dir):  # as loading it would say
        load_run_module(run_dir)

    def settings(cfg) -> dict:  # its data named by the real path: a run folder reached by a link is the same run
        d = cfg.to_dict()
        return {**d, "data": os.path.realpath(d["data"]) if isinstance(d.get("data"), str) else d.get("data")}

    differ = [what for what, same in (
        ("settings", settings(rundir.load_config(run_dir)) == settings(run.cfg)),
        ("weights' metadata", read_meta(run_dir / rundir.WEIGHTS_FILE) == run.meta)) if not same]
    if differ:
        raise MedtrainError(f"evaluate_external: run was not loaded from {run_dir} (its {' and '.join(differ)} "
                            f"differ from those of {run_dir}); pass the run of {run_dir}, or run=None to load it")
    return run


def evaluate_external(run_dir: str | os.PathLike, data: str | os.PathLike, split: str = "test",
                      verbose: bool = True, skip_bad: bool = False, run: RunModel | None = None) -> dict:
    """Score the finished run ``run_dir`` on the labelled ``data`` (see the module); writes
    ``RUN/eval_external_<name>.json`` (:func:`external_file`: the data's stem and a digest of its resolved path
    and split) and returns its content: the fields of ``eval_test.json`` plus ``data`` (the source's resolved
    absolute path), ``data_split`` (the split read: ``test`` but for an .npz's ``--split``) and ``n``. ``run``:
    the run of ``run_dir`` already loaded (:func:`~medtrain.runmodel.load_run_module`; ``medtrain eval --data``
    loads it for its note on squashed inputs), not loaded again; refused in one line where it is not that folder's run (:func:`_check_same_run`)."""
    if not isinstance(data, (str, os.PathLike)):  # Path((x, y)) had been a raw TypeError
        raise MedtrainError(f"evaluate_external takes the path of labelled data: a CSV of path,label, a folder of "
                            f"class sub-folders or a MedMNIST-layout .npz, not a {type(data).__name__}; save arrays "
                            f"as an .npz first: np.savez('heldout.npz', test_images=x, test_labels=y)")
    run_dir, data = Path(run_dir), Path(data)
    run = load_run_module(run_dir) if run is None else _check_same_run(run_dir, run)
    with notes_once(data):  # volumes cut by the run's crop, or windowed without air: one line each, with the count
        names, truth, images, groups, skipped = _labelled(data, run, split, skip_bad)
    if run.meta["task"] == MULTILABEL:  # (N, L) float, as the run's own multi-label test split is read
        labels = torch.tensor(truth, dtype=torch.float32).reshape(len(truth), len(run.label_names))
    else:
        # a class name in either Unicode form is the run's (a folder copied from a Mac names 'Mélanome' decomposed)
        index = {unicodedata.normalize("NFC", name): j for j, name in enumerate(run.label_names)}
        truth = [unicodedata.normalize("NFC", t) if isinstance(t, str) else t for t in truth]
        unknown = sorted(set(truth) - set(index))
        if unknown:
            raise MedtrainError(f"{data}: label(s) {_unknown_labels(unknown[:5], list(run.label_names))} are not classes of "
                                f"{run_dir} ({', '.join(run.label_names)})")
        labels = torch.tensor([index[t] for t in truth], dtype=torch.int64)
    metrics = _finished_metrics(run_dir)
    _say_ungrouped(run_dir, metrics, run, data, groups)  # after the labels' checks: a refused CSV is one line
    seen, unchecked = _seen_in_run(run_dir, run, images, data)
    where, split = split, Split(images, labels, names, groups)
    scored, kept = score_and_keep(run, split)
    res = {"data": str(data.resolve()), "data_split": where, "n": len(labels), "seen_in_run": seen,
           **({"seen_in_run_reason": unchecked} if unchecked else {}), **scored,
           **({"skipped": skipped} if skip_bad else {})}
    missed = target_missed(res.get("operating_point"))
    try:  # the scores printed first: a run folder that cannot be written (an archive, a colleague's) still shows them
        write_scores(run_dir, f"{data} ({len(labels)} inputs)", res, external_file(data, where), verbose)
    finally:  # the rule's target missed at this site: one line, printed even where the file cannot be written
        if verbose and missed:
            print(f"  {missed}")
    write_eval_predictions(run_dir, external_predictions_file(data, where), run, split, kept)  # per image, for review
    _add_to_report(run_dir, metrics, run, data, where, split, kept, res)
    if verbose:
        print(f"  per image: {run_dir / external_predictions_file(data, where)}")
        if skipped:
            print(f"  {len(skipped)} input(s) skipped (--skip-bad), with the reasons in its 'skipped'; the first: "
                  f"{skipped[0]['input']}: {skipped[0]['reason']}")
        if (run_dir / rundir.REPORT_FILE).is_file():
            print(f"  report: {run_dir / rundir.REPORT_FILE} (External testing)")
    return res


def _add_to_report(run_dir: Path, metrics: dict | None, run: RunModel, data: Path, where: str, split: Split,
                   kept: dict, res: dict) -> None:
    """The site's figures (ROC/PR with the operating point, reliability diagram), then the run's ``report.html``
    written again by the run directory's one writer, its "External testing" section showing every site scored so
    far (:mod:`medtrain._external_report`). A run without its ``metrics`` (not finished) has no report to add to."""
    if metrics is None:
        return
    name = external_name(data, where)
    draw_external_plots(run_dir, name, run.meta["task"], split.labels.numpy(), kept.get("scores"),
                        kept.get("scores_scaled"), res, list(run.label_names),
                        f"{readable_name(data, where)} · {run.cfg.model} · seed {run.cfg.seed}")
    import jinja2

    try:
        rundir.write_report(run_dir, rundir.read_config(run_dir), metrics)
    except jinja2.UndefinedError as e:  # a metrics.json without what the page shows (an older medtrain's run)
        warnings.warn(UnreportedExternalWarning(f"{run_dir / rundir.REPORT_FILE} not written again: its "
                                                f"{rundir.METRICS_FILE} lacks what the report shows ({e}); the "
                                                f"scores are in {external_file(data, where)}"))


class UnreportedExternalWarning(UserWarning):
    """The run's report could not be written again with the external site (its metrics.json is an older
    medtrain's, without what the page shows): the scores are in their JSON all the same."""
