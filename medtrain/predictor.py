"""A finished run as a predictor: ``medtrain.load(run_dir).predict(images)`` (``medtrain predict`` writes
its output through :mod:`medtrain.predict`).

Inputs are image files (PNG, JPEG, BMP, TIFF, 2D DICOM), folders (searched recursively), CSVs with a
``path`` column, ``.npz`` files in MedMNIST layout (one split) and, for 3D runs, NIfTI volumes and DICOM
series folders. Each is decoded by the reader the training data went through (:mod:`medtrain.data`) and
prepared as the run prepared its own images (size, channels, window, spacing; an image file of another bit depth
than the run's training images is refused: :attr:`medtrain.runmodel.RunModel.image_depth`); the network then applies
the run's colour space, normalisation, test-time augmentation and MC dropout exactly as ``medtrain eval``
does (:func:`medtrain.evaluation.predict_batches`), and the calibration temperature fitted on validation
when the run stored one (:func:`medtrain.evaluation.temperature_scale`), so the same images give the
calibrated probabilities ``medtrain eval`` computes (the ``q`` columns of ``predictions_test.csv``).

Inputs are listed lazily and decoded one batch at a time: memory does not grow with their number.
"""
from __future__ import annotations

import dataclasses
import numbers
import os
from collections import deque
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

# check_run_dir: also imported from here (api.evaluate)
from medtrain.runmodel import RunModel, check_run_dir, float32_default, load_run_module
from medtrain.rundir import run_tta
from medtrain.errors import MedtrainError
from medtrain.evaluation import predict_batches, temperature_scale
from medtrain.evaluation.batches import batch_for
from medtrain.metrics import predicted_names
from medtrain.operating_point import from_meta, names_at_operating_point, threshold_on_raw_scale, warn_fitted_with_tta
from medtrain.data._volume_notes import notes_once
from medtrain.data.folder import IMAGE_DEPTH
from medtrain._predict_squash import squashes_once
from medtrain.predict_inputs import Item, Skipped, conform, python_items
from medtrain.reuse import shown_path

#: Images per forward pass; ``medtrain eval``'s, so MC-dropout masks are drawn over the same batches.
BATCH_SIZE = None  #: inputs per forward pass: None, by the model's input size (evaluation.batches.batch_for)


# --------------------------------------------------------------------------- the predictor


class Predictor:
    """A finished run, ready to predict (see :func:`load`).

    Attributes:
        labels: class names in the order of the probability columns.
        task: the run's task (``multi-label`` predictions are every label with probability > 0.5).
        temperature: the calibration temperature applied to the probabilities (None: uncalibrated, because
            the run stored none or ``calibrated=False`` was asked for).
        operating_point: the run's ``(rule, threshold, positive class index)`` (binary tasks; None without one);
            a multi-label run's ``(rule, [threshold per label], None)``; the threshold as the run chose it, on the
            calibrated probability (:meth:`settings` states it on the scale of the probabilities given).
        run_dir: the run directory it was loaded from (absolute; None where it was made from a RunModel).
        image_depth: the bit depth of the run's training images (``8-bit``, ``more than 8 bits``, ``mixed``), which
            image files and PIL images must share (:attr:`medtrain.runmodel.RunModel.image_depth`: the weights'
            metadata, so a model handed on without its run folder keeps it); None: not checked (a run before it was
            recorded). Set to None to predict images of another depth anyway, their intensities read by another rule
            than the training images'.
    """

    def __init__(self, run: RunModel, batch_size: int | None = BATCH_SIZE, calibrated: bool = True, *,
                 run_dir: str | os.PathLike | None = None, run_views: str | None = None):
        # batch_size="8" had been "TypeError: '<' not supported between instances of 'str' and 'int'"
        if batch_size is not None and (not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool)
                                       or batch_size < 1):
            raise MedtrainError(f"batch_size must be a whole number >= 1 or None, got {batch_size!r}")
        # None: 256 up to 64 px (64^3 voxels), fewer for larger inputs (256 images of 512 px had needed ~21 GB)
        self.run = run
        self.batch_size = batch_for(tuple(run.input_shape[1:])) if batch_size is None else int(batch_size)
        self.run_dir = Path(run_dir).absolute() if run_dir is not None else None  #: where it was loaded from
        self.labels = run.label_names
        self.task = run.meta["task"]
        self._run_views = run_views  # the run's own test-time views where load's tta=False left them out
        t = run.meta.get("temperature")
        self._run_temperature = float(t) if t is not None else None  # also for the operating-point decision
        self.temperature = self._run_temperature if calibrated else None
        # the run's operating point (binary tasks, chosen on validation on the calibrated probabilities):
        # (rule, threshold, positive class index). It stays with calibrated=False, decided on the calibrated
        # probability (T scaling is monotone: the same images are called positive; the column had been dropped)
        op = from_meta(run.meta, run.label_names)
        self.operating_point = (op.rule, *op.decision) if op is not None else None
        self._not_chosen = list(op.not_chosen) if op is not None else []  # labels that kept KEPT (multi-label)

    def __repr__(self) -> str:
        """What predicts (run directory, task, classes) and how (calibration, test-time views, operating point):
        the default ``<medtrain.predictor.Predictor object at 0x...>`` had said none of it."""
        where = f"{shown_path(self.run_dir)!r}, " if self.run_dir is not None else ""
        names = ", ".join(map(repr, self.labels[:6])) + (f", ... ({len(self.labels)} in all)"
                                                         if len(self.labels) > 6 else "")
        how = f"calibrated T={self.temperature:.3f}" if self.temperature is not None else \
            f"uncalibrated (the run's T={self._run_temperature:.3f} not applied)" \
            if self._run_temperature is not None else "uncalibrated (the run fitted no temperature)"
        tta = run_tta(self.run.cfg, self.run.meta)
        shown = f"Predictor({where}{self.task}, classes [{names}], {how}, tta={tta}"
        if self.run.cfg.mc_dropout:
            shown += f", mc_dropout={self.run.cfg.mc_dropout}"
        if self.operating_point is not None:
            rule, threshold, positive = self.operating_point
            stated = self._on_given_scale(threshold)  # on the probabilities predict gives: raw ones mapped through T
            shown += f", operating point {rule or 'threshold'} {stated:.3f} on {self.labels[positive]!r}" \
                + (f" (raw scale: the run's {threshold:.3f} mapped through T)" if stated != threshold else "") \
                if positive is not None else f", operating point {rule} per label ({len(threshold)} thresholds)"
        return shown + ")"

    @property
    def image_depth(self) -> str | None:
        """The bit depth of the run's training images that image files and PIL images must share
        (:attr:`medtrain.runmodel.RunModel.image_depth`); None: not checked."""
        return self.run.image_depth

    @image_depth.setter
    def image_depth(self, depth: str | None) -> None:  # (None: predict images of another depth anyway)
        self.run = dataclasses.replace(self.run, meta={**self.run.meta, IMAGE_DEPTH: depth})

    def settings(self) -> dict:
        """What the probabilities and decisions are, for an output to record: ``calibrated`` (whether the
        probabilities are temperature-scaled), the run's ``temperature`` (None: it fitted none), and its
        ``operating_point`` rule, ``threshold`` and ``positive_class`` (None for a run without one). The threshold is on
        the scale of the probabilities given: uncalibrated (``calibrated=False``), the run's threshold on the calibrated
        probability mapped through its temperature (:func:`medtrain.operating_point.threshold_on_raw_scale`), that one
        kept as ``threshold_on_calibrated`` (it had been the calibrated threshold beside raw probabilities, which
        contradicted the decisions); so a probability >= ``threshold`` is called ``positive_class``, calibrated or not.
        A multi-label run with one gives ``operating_point``, ``thresholds`` (``{label: threshold}``, uncalibrated also
        ``thresholds_on_calibrated``) and ``not_chosen`` (the labels that kept :data:`medtrain.operating_point.KEPT`:
        :func:`medtrain.operating_point.kept_clause`) in place of the last two. ``tta``: the test-time views applied,
        and ``tta_of_run`` the run's own where they differ (``--no-tta``: a file made without them had been
        indistinguishable from one made as the run's were)."""
        views = run_tta(self.run.cfg, self.run.meta)
        own = self._run_views if self._run_views is not None else views
        return {**self._settings(), "tta": views, **({"tta_of_run": own} if own != views else {})}

    def _settings(self) -> dict:
        rule, threshold, positive = self.operating_point or (None, None, None)
        raw = self.temperature is None and self.operating_point is not None  # the run's threshold kept beside
        if self.operating_point is not None and positive is None:
            return {"calibrated": self.temperature is not None, "temperature": self._run_temperature,
                    "operating_point": rule, "thresholds": dict(zip(self.labels, self._on_given_scale(threshold))),
                    **({"thresholds_on_calibrated": dict(zip(self.labels, threshold))} if raw else {}),
                    "not_chosen": list(self._not_chosen)}
        return {"calibrated": self.temperature is not None, "temperature": self._run_temperature,
                "operating_point": rule, "threshold": self._on_given_scale(threshold),
                **({"threshold_on_calibrated": threshold} if raw else {}),
                "positive_class": self.labels[positive] if positive is not None else None}

    def _on_given_scale(self, threshold):
        """The run's threshold (a number, or a list of one per label) on the scale of the probabilities this predictor
        gives: itself where they are calibrated (or the run fitted no temperature, or T = 1); on raw ones mapped
        through T (:func:`medtrain.operating_point.threshold_on_raw_scale`, with the calibrated probabilities of a raw
        0 and 1 as :func:`medtrain.evaluation.temperature_scale` gives them), so that a probability >= it makes the
        decision of :meth:`decide_at_operating_point`."""
        t = self._run_temperature
        if threshold is None or self.temperature is not None or t is None or t == 1:
            return threshold
        ends = torch.tensor([[0.0], [1.0]] if self.operating_point[2] is None else [[1.0, 0.0], [0.0, 1.0]])
        lowest, highest = temperature_scale(ends, self.task, t).float()[:, -1].tolist()
        if isinstance(threshold, (list, tuple)):
            return [threshold_on_raw_scale(v, t, lowest, highest) for v in threshold]
        return threshold_on_raw_scale(threshold, t, lowest, highest)

    def _rows(self, probs) -> np.ndarray:
        """``probs`` as rows ``(N, C)``, C the run's classes; one image's vector ``(C,)`` (``predict(...)[0]``) is one
        row where C > 2. Another shape is a :class:`MedtrainError` naming ``(N, C)``: a vector had been read as N
        binary scores (``decide``: two names for one image) or failed with an IndexError
        (``decide_at_operating_point``). A two-class run's vector of 2 is refused too: one image's two probabilities
        and two images' positive-class scores look alike, and neither reading may be guessed."""
        a = np.asarray(probs)
        c = len(self.labels)
        if a.ndim == 1 and a.shape[0] == c == 2:
            raise MedtrainError(f"probabilities must be (N, 2), one row per image: a vector of 2 may be one image's "
                                f"two (give probs[None]) or two images' {self.labels[1]!r} scores (give "
                                f"np.stack([1 - s, s], 1)); got shape {tuple(a.shape)}")
        if a.ndim == 1 and a.shape[0] == c:
            return a[None]
        if a.ndim != 2 or a.shape[1] != c:
            raise MedtrainError(f"probabilities must be (N, C) with C = {c} (the run's classes {self.labels}), one "
                                f"row per image, or one image's ({c},); got shape {tuple(a.shape)}")
        return a

    def decide(self, probs: np.ndarray) -> list[str]:
        """The predicted label name of each row of probabilities ``(N, C)`` (the decision the run's metrics score);
        one image's vector ``(C,)`` is one row (a list of one name) where C > 2 (:meth:`_rows`)."""
        return predicted_names(self._rows(probs), self.task, self.labels)

    def decide_at_operating_point(self, probs: np.ndarray) -> list[str] | None:
        """The label name of each row at the run's operating point (its positive class where that class's
        calibrated probability >= the threshold, else the other class; multi-label: the labels whose calibrated
        probability >= their own threshold, joined by ``;`` as :meth:`decide` joins them; raw ``probs`` of
        ``calibrated=False`` are temperature-scaled first, as the calibrated predictor scales them); None for a run
        without one. ``probs`` is ``(N, C)``, or one image's ``(C,)``: one row, as :meth:`decide` reads it."""
        if self.operating_point is None:
            return None
        probs = self._rows(probs)
        _, threshold, positive = self.operating_point
        if self.temperature is None and self._run_temperature is not None:  # raw probabilities: calibrate them
            probs = temperature_scale(torch.as_tensor(np.asarray(probs)), self.task, self._run_temperature)
            probs = probs.float().numpy()
        return names_at_operating_point(probs, threshold, positive, self.labels)

    def stream(self, items: Iterable[Item], skip_bad: bool = False,
               skipped: list | None = None) -> Iterator[tuple[list[Item], np.ndarray, np.ndarray | None]]:
        """``(items, probs, entropy)`` per batch of ``items`` (each :class:`Item` with its name and ``ids``, a CSV's
        patient ID); bad items raise, or with ``skip_bad`` are appended to ``skipped`` as :class:`Skipped`."""
        names: deque = deque()

        def batches():
            buf, got = [], []
            for item in items:
                try:
                    buf.append(conform(item.load(), item.name, self.run))
                except MedtrainError as e:
                    if not skip_bad:
                        raise
                    if skipped is not None:
                        reason = str(e).removeprefix(f"{item.name}: ")  # shown after the name: not twice
                        skipped.append(Skipped(item.name, reason))
                    continue
                got.append(item)
                if len(buf) == self.batch_size:
                    names.append(got)
                    yield torch.stack(buf)
                    buf, got = [], []
            if buf:
                names.append(got)
                yield torch.stack(buf)

        cfg = self.run.cfg
        tta = run_tta(cfg, self.run.meta)
        scored = predict_batches(self.run.module, batches(), tta=tta, mc_dropout=cfg.mc_dropout, seed=cfg.seed)
        while True:
            # float32 while a batch is scored, whatever the caller's default dtype (float64 had failed: "expected
            # scalar type Float but found Double"); the caller's again between batches, where its code runs
            with float32_default():
                try:
                    p, e = next(scored)
                except StopIteration:
                    return
                if self.temperature is not None:  # after TTA/MC averaging, as the run's own calibrated scores
                    p = temperature_scale(p, self.task, self.temperature).float()
            yield names.popleft(), p.numpy(), (e.numpy() if e is not None else None)

    def predict(self, images) -> np.ndarray:
        """Class probabilities ``(N, K)`` of ``images``: a uint8 array or tensor ``(N, C, *spatial)``, or a
        list of paths (anything ``medtrain predict`` reads), uint8 images ``(C, *spatial)`` and batches
        ``(N, C, *spatial)`` (an array in a list is one image unless it has the batch axis too). A grey image
        ``(H, W)`` (a volume ``(D, H, W)``) or a PIL image alone is one image; a PIL image is decoded as its
        file would be (EXIF orientation, palette, alpha, more than 8 bits: :func:`medtrain.data.folder.decode_image`). Images of another
        size are resized to the model's square as image files are (another aspect ratio: one
        :class:`~medtrain.predict_inputs.ResizedWarning` per call counting them, as ``medtrain predict``'s line, shown
        on every call: :func:`~medtrain.predict_inputs.squashes_once`); grey images given to a colour model, one
        :class:`~medtrain.predict_inputs.GreyForColourWarning` per call alike."""
        if not _images_like(images):  # None or a number had been a TypeError ("'NoneType' object is not iterable")
            raise MedtrainError(f"predict takes images: a path (file, folder, CSV, .npz), a uint8 array or tensor "
                                f"(N, C, *spatial) or one image, a PIL image, or a list of these; got "
                                f"{type(images).__name__}")
        items = python_items(images, self.run)
        # inputs squashed to the square, volumes cut by the run's crop or windowed without air: one line each for all
        with squashes_once(self.run), notes_once():
            out = [p for _, p, _ in self.stream(items)]
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.float32)


def _images_like(images) -> bool:
    """Whether ``images`` is of a kind :meth:`Predictor.predict` reads (what it holds is checked as it is read)."""
    from PIL import Image

    if images is None or isinstance(images, (bytes, bytearray, int, float)):
        return False
    return isinstance(images, (str, os.PathLike, np.ndarray, torch.Tensor, Image.Image)) or hasattr(images, "__iter__")


def load(run_dir: str | os.PathLike, batch_size: int | None = BATCH_SIZE, calibrated: bool = True,
         tta: bool = True) -> Predictor:
    """:func:`medtrain.load`, documented there (``help(medtrain.load)``); ``medtrain predict`` and explain call it
    too. Its arguments are checked here, once (batch_size by :class:`Predictor`)."""
    check_run_dir(run_dir)  # before the other arguments, as load_run_module would check it
    for name, value in (("tta", tta), ("calibrated", calibrated)):  # 'none' or 'false' had read as true
        if not isinstance(value, bool):
            raise MedtrainError(f"{name} must be True or False, got {value!r}")
    run = load_run_module(run_dir)
    if not tta:
        _warn_threshold_fitted_with_tta(run, run_dir, "predict")
    return Predictor(run if tta else run.without_tta(), batch_size, calibrated, run_dir=run_dir,
                     run_views=run_tta(run.cfg, run.meta))


def _warn_threshold_fitted_with_tta(run: RunModel, run_dir: str | os.PathLike | None = None,
                                    said_for: str = "predict") -> None:
    """:func:`medtrain.operating_point.warn_fitted_with_tta` of ``run`` (its operating point, its TTA as
    :func:`medtrain.rundir.run_tta` reads it), named by ``run_dir`` as the user finds it."""
    warn_fitted_with_tta(run.meta, run.label_names, run_tta(run.cfg, run.meta), said_for,
                         shown_path(Path(run_dir).absolute()) if run_dir is not None else None)
