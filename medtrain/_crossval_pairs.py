"""Two cross-validations of one seed compared on their pooled out-of-fold predictions, image by image.

A comparison grid with ``--folds K`` (``medtrain compare``) gives each cell's mean over its fold runs and the
seeds' paired differences; the pooled out-of-fold AUC, each seed's K held-out folds pooled into one set of
predictions (:mod:`medtrain.crossval`), is the cross-validation's headline. Two cells of the same seed deal the
same folds (:func:`medtrain.data.split.fold_ids`: seeded, by the data's content), so their pooled predictions
are of the same images, each predicted by a network that did not train on it: they are paired as two runs on one
test set are (:func:`medtrain.versus.paired_difference`: the paired bootstrap interval of the AUC and ACC
differences, DeLong's test of a binary task's AUCs, McNemar's of the accuracies). Which images a fold held out
is checked, not assumed: each fold's held-out labels, patients and inputs must agree between the two cells, row by
row (not their pixels' digest: a cell may read the same images at another size).

With a validation fold held out (data with an official test split), the fold's checkpoint and choices were made on
those images, so both pooled scores read optimistic (Varma & Simon, BMC Bioinformatics 2006): the pairing removes
the images' share of the noise, not that bias, which both cells carry; the note under the tables says which split
the folds held out."""
from __future__ import annotations

from pathlib import Path

from medtrain._io.run_files import read_metrics
from medtrain._predictions_csv import pooled, read_saved
from medtrain.intervals import repeated
from medtrain.rundir import load_config
from medtrain.versus import paired_difference


def _same_images(a, b) -> bool:
    """Whether two folds' held-out predictions are of the same images: the same labels, patients and inputs (each
    image's file, or its source split and index), row by row. Not their pixels' digest: cells that read the same
    images at another size (``--image-size``, ``--size``, ``--volume-size``, a window) hold out the same images."""
    return (a.labels.shape == b.labels.shape and bool((a.labels == b.labels).all()) and a.groups == b.groups
            and a.inputs == b.inputs)


def pooled_versus(cell: list[Path], first: list[Path], held_out: str) -> dict:
    """``cell``'s pooled out-of-fold predictions against ``first``'s (each a cross-validation's fold run folders,
    in fold order), both holding out ``held_out`` (``val`` or ``test``): :func:`medtrain.versus.paired_difference`
    (``auc``, ``acc``: ``difference`` = cell minus first, ``difference_ci``, ``test``, ``p``; ``p_values``), with
    ``n`` and ``patients``; ``{"unpaired": why}`` where the folds did not hold out the same images."""
    if len(cell) != len(first):
        return {"unpaired": f"{len(cell)} fold{'s' if len(cell) != 1 else ''} against {len(first)}"}
    folds = [(read_saved(a, held_out), read_saved(b, held_out)) for a, b in zip(cell, first)]  # each file read once
    for k, (a, b) in enumerate(folds):
        if not _same_images(a, b):
            return {"unpaired": f"fold {k} held out other images"}
    a, b = pooled([f[0] for f in folds]), pooled([f[1] for f in folds])
    task = read_metrics(cell[0]).get("task")
    draws = max(load_config(cell[0]).bootstrap, load_config(first[0]).bootstrap)
    groups = a.groups if repeated(a.groups) else None
    return {"n": int(len(a.labels)), "patients": len(set(groups)) if groups else None,
            **paired_difference(a.labels, a.scores, b.scores, task, draws, groups)}
