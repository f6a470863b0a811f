"""``medtrain predict``'s output: a finished run's predictions of many inputs, streamed into a CSV or JSON
file. The predictor itself (inputs, decoding as the run did, batching) is :mod:`medtrain.predictor`.
"""
from __future__ import annotations

import csv
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Sequence, TextIO

from medtrain._io import STDOUT, atomic_path, is_stream, open_stream
from medtrain._io.paths import NOT_REGULAR, file_problem, path_kind, why_not_read
from medtrain._out_checks import refuse_a_runs_file
from medtrain.data._table_checks import THRESHOLD_PREFIX
from medtrain.data._volume_notes import notes_once
from medtrain.errors import MedtrainError
from medtrain.predict_inputs import Item, Skipped, _raise, id_columns, iter_inputs
from medtrain.predictor import BATCH_SIZE, Predictor, load

__all__ = ["BATCH_SIZE", "Item", "Predictor", "Skipped", "id_columns", "inputs_except_out", "iter_inputs", "load",
           "write_predictions"]


def _same_file(out: str | os.PathLike, given: str | os.PathLike) -> bool:
    """Whether the output and an input are one file: the same real path (links and ``./`` resolved), or one
    file by two hard links. ``--out -`` is standard output, not the file ``./-`` (an input that names it: "the
    output - is the input -" had refused it)."""
    if os.fspath(out) == STDOUT:
        return False
    try:
        return os.path.realpath(out) == os.path.realpath(given) or os.path.samefile(out, given)
    except (OSError, ValueError):  # either one missing (not one existing file), or a name with a NUL byte
        return False


def _overwritten(out: str | os.PathLike, what: str) -> MedtrainError:
    return MedtrainError(f"the output {out} is {what}: predict would overwrite it; give another --out")


def inputs_except_out(inputs: Iterable, predictor: Predictor, out: str | os.PathLike,
                      split: str = "test", skip_bad: bool = False) -> Iterator[Item]:
    """``iter_inputs(inputs, ...)``, refusing ``out`` as one of them: an input given (checked now, before any
    work) or a file a folder or CSV lists (checked as it is listed; the output, written atomically, is then
    never written). A path given that does not exist is refused now too, before any image is decoded; with
    ``skip_bad`` it is a bad input, listed and skipped where it stands, as a CSV's missing row is (a vanished
    path of a list on standard input had ended a batch of 3,000 images after predicting them, nothing written)."""
    inputs = list(inputs)
    for given in inputs:
        if _same_file(out, given):
            raise _overwritten(out, f"the input {given}")
        if not skip_bad and (gone := _gone(given)):
            raise gone
    return _guarded(inputs, predictor, out, split)


def _gone(given) -> MedtrainError | None:
    """Why an input given cannot be read where it is missing (or a link loop); None where it is there, or a FIFO or a
    device (a bad input of its own, refused unopened by :func:`iter_inputs`)."""
    if path_kind(given) is None and file_problem(given) != NOT_REGULAR:
        return MedtrainError(f"{given}: {why_not_read(given)}")
    return None


def _guarded(inputs: list, predictor: Predictor, out, split: str) -> Iterator[Item]:
    alone = len(inputs) == 1
    for given in inputs:
        if gone := _gone(given):  # (with skip_bad): a bad input, skipped where it stands
            yield Item(str(given), lambda e=gone: _raise(e))
            continue
        items = iter_inputs([given], predictor.run, split=split, alone=alone)
        if Path(given).suffix.lower() == ".npz" and not Path(given).is_dir():  # rows named by index, not files
            yield from items
            continue
        for item in items:
            if _same_file(out, item.name):
                raise _overwritten(out, f"an image {given} lists ({item.name})")
            yield item


def write_predictions(predictor: Predictor, items: Iterable[Item], out: str | os.PathLike, as_json: bool = False,
                      skip_bad: bool = False, progress=None, ids: Sequence[str] = ()) -> tuple[int, list[Skipped]]:
    """Stream predictions into ``out`` (CSV: ``input[, <id>...], prediction, <label>...[, entropy]``, and
    ``prediction_at_operating_point`` for a run with one, calibrated or not (multi-label: the labels called at
    their own thresholds, joined by ``;``), a binary one after ``positive_class_at_operating_point`` and
    ``threshold_at_operating_point``, the threshold on the probabilities written (:meth:`Predictor.settings`), so
    that each row's decision reads off its own columns: the positive class where its probability >= it; a
    multi-label one after ``threshold_at_operating_point:<label>`` for each label, a label called where its
    probability >= its threshold); or JSON,
    whose header records :meth:`Predictor.settings`: ``calibrated``, ``temperature``, ``operating_point``,
    ``threshold`` (on the probabilities written; with ``--no-calibration`` also ``threshold_on_calibrated``, the
    run's), ``positive_class`` (multi-label: ``thresholds`` by label and ``not_chosen``), written atomically: an
    error leaves no file (on a stream, ``-``, CSV rows go out as they are predicted). ``progress(n)`` is called
    after each batch with the inputs so far. Volumes the run's crop cuts, or windowed without air, are said once
    for all the inputs, with their count (:func:`medtrain.data._volume_notes.notes_once`). ``ids``: identifier
    columns (:func:`id_columns`: a CSV input's patient column), written after ``input`` (JSON: keys after it), each
    row's value its item's (:attr:`Item.ids`), empty (JSON: null) for an input without one; none by default. Returns
    the number of predicted inputs and the skipped ones. A predictor without the run's test-time views (``--no-tta``)
    adds ``test_time_views`` (``none (the run's: hflip)``) to every CSV row, as the JSON header's ``tta_of_run``."""
    if not is_stream(out):
        refuse_a_runs_file(out)  # before any file is opened or input read
    skipped: list[Skipped] = []
    n = 0
    labels = predictor.labels
    said = predictor.settings()
    ids = list(ids)
    # a binary operating point's class and threshold, on the scale of the probabilities written (--no-calibration:
    # the run's mapped through T): the file alone had held raw columns beside decisions made on calibrated ones
    op_cols = {"positive_class_at_operating_point": said["positive_class"],
               "threshold_at_operating_point": repr(float(said["threshold"]))} \
        if said.get("threshold") is not None else {}
    # a multi-label run's threshold of each label, on the same scale, in a column of its own: the file had held
    # only the labels called, its thresholds in the JSON header alone (a multi-label walk)
    op_cols.update({f"{THRESHOLD_PREFIX}{label}": repr(float(t)) for label, t in (said.get("thresholds") or {}).items()})
    # views other than the run's (--no-tta), in a column of their own: as the JSON header records them
    views = ["test_time_views"] if "tta_of_run" in said else []
    _check_id_names(ids, ["input", "prediction", "probabilities", "entropy", "prediction_at_operating_point",
                          *op_cols, *views, *labels])  # before any file is opened
    # JSON is one object: on a stream it is held until complete (atomic_path), so an input that fails half-way
    # leaves no unparsable fragment on standard output (`| jq` had read '{"labels": [...], "predictions": [')
    # a volume cut by the run's crop, or windowed without air, said in one line for all the inputs (notes_once)
    with notes_once(), (open_stream(out) if is_stream(out) and not as_json else _atomic_text(out)) as f:
        w = csv.writer(f, lineterminator="\n")  # as the run's own CSVs (predictions_test.csv, splits.csv)
        first = True
        if as_json:
            # what the probabilities are (calibrated or raw, the run's temperature) and the operating point's rule
            # and threshold: --no-calibration had written raw probabilities with nothing saying so
            settings = json.dumps(said)[1:-1]
            f.write('{"labels": %s, %s, "predictions": [' % (json.dumps(labels), settings))
        for batch, probs, entropy in predictor.stream(items, skip_bad=skip_bad, skipped=skipped):
            decided, at_op = predictor.decide(probs), predictor.decide_at_operating_point(probs)
            op_key = "prediction_at_operating_point"  # at the run's threshold(s), as metrics.json records them
            if first and not as_json:
                w.writerow(["input", *ids, "prediction", *labels] + (["entropy"] if entropy is not None else [])
                           + ([*op_cols, op_key] if at_op is not None else []) + views)
            for i, item in enumerate(batch):
                name, given = item.name, dict(item.ids)  # its patient ID beside its name: a CSV's patient column
                if as_json:
                    rec = {"input": name, **{c: given.get(c) for c in ids}, "prediction": decided[i],
                           "probabilities": dict(zip(labels, map(float, probs[i])))}
                    if entropy is not None:
                        rec["entropy"] = float(entropy[i])
                    if at_op is not None:
                        rec[op_key] = at_op[i]
                    f.write(("" if first and i == 0 else ",") + "\n  " + json.dumps(rec))
                else:
                    w.writerow([name, *(given.get(c, "") for c in ids), decided[i], *(f"{v:.9g}" for v in probs[i])]
                               + ([f"{entropy[i]:.9g}"] if entropy is not None else [])
                               + ([*op_cols.values(), at_op[i]] if at_op is not None else [])
                               + ([f"{said['tta']} (the run's: {said['tta_of_run']})"] if views else []))
            first = False
            n += len(batch)
            if progress is not None:
                progress(n)
        if not n:  # an empty file and exit 0 read as success (a folder of unknown files, every input bad)
            if skipped:
                raise MedtrainError(f"no input could be predicted: all {len(skipped)} skipped (first: "
                                    f"{skipped[0].name}: {skipped[0].reason})")
            raise MedtrainError("nothing to predict: the inputs hold no image, DICOM or NIfTI file, or .npz/CSV "
                                "entry")
        if as_json:
            f.write('\n], "skipped": %s}\n' % json.dumps([s._asdict() for s in skipped]))
    return n, skipped


def _check_id_names(ids: list[str], columns: list[str]) -> None:
    """Refuse an identifier column named as a column (or JSON key) of the output: a class named ``patient`` and a
    CSV whose patient column is ``patient`` would give two columns of one name."""
    for name in ids:
        if name in columns:
            raise MedtrainError(f"the inputs' patient column '{name}' has the name of an output column (the "
                                "output's input, prediction, class and operating-point columns); rename it in the CSV")


@contextmanager
def _atomic_text(out: str | os.PathLike) -> Iterator[TextIO]:
    with atomic_path(out) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:  # whatever the locale
        yield f
