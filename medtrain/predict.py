"""``medtrain predict``'s output: a finished run's predictions of many inputs, streamed into a CSV or JSON
file. The predictor itself (inputs, decoding as the run did, batching) is :mod:`medtrain.predictor`.
"""
from __future__ import annotations

import csv
import json
import os
from typing import Iterable

from medtrain._io import atomic_path
from medtrain.errors import MedtrainError
from medtrain.predictor import BATCH_SIZE, Item, Predictor, Skipped, iter_inputs, load

__all__ = ["BATCH_SIZE", "Item", "Predictor", "Skipped", "iter_inputs", "load", "write_predictions"]


def write_predictions(predictor: Predictor, items: Iterable[Item], out: str | os.PathLike, as_json: bool = False,
                      skip_bad: bool = False, progress=None) -> tuple[int, list[Skipped]]:
    """Stream predictions into ``out`` (CSV: ``input, prediction, <label>...[, entropy]``, and
    ``prediction_at_operating_point`` for a run with one; or JSON), written atomically: an error leaves no
    file. ``progress(n)`` is called after each batch with the inputs so far. Returns the number of predicted
    inputs and the skipped ones."""
    skipped: list[Skipped] = []
    n = 0
    labels = predictor.labels
    with atomic_path(out) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        first = True
        if as_json:
            f.write('{"labels": %s, "predictions": [' % json.dumps(labels))
        for names, probs, entropy in predictor.stream(items, skip_bad=skip_bad, skipped=skipped):
            decided, at_op = predictor.decide(probs), predictor.decide_at_operating_point(probs)
            op_key = "prediction_at_operating_point"  # the run's threshold on its positive class (metrics.json)
            if first and not as_json:
                w.writerow(["input", "prediction", *labels] + (["entropy"] if entropy is not None else [])
                           + ([op_key] if at_op is not None else []))
            for i, name in enumerate(names):
                if as_json:
                    rec = {"input": name, "prediction": decided[i],
                           "probabilities": dict(zip(labels, map(float, probs[i])))}
                    if entropy is not None:
                        rec["entropy"] = float(entropy[i])
                    if at_op is not None:
                        rec[op_key] = at_op[i]
                    f.write(("" if first and i == 0 else ",") + "\n  " + json.dumps(rec))
                else:
                    w.writerow([name, decided[i], *(f"{v:.9g}" for v in probs[i])]
                               + ([f"{entropy[i]:.9g}"] if entropy is not None else [])
                               + ([at_op[i]] if at_op is not None else []))
            first = False
            n += len(names)
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
