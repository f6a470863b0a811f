"""Operating points: of a binary task, the threshold on the positive class's probability chosen on validation
(Youden's J, or a target sensitivity or specificity), the positive class, and the rates at a threshold
(sensitivity, specificity, PPV, NPV) with intervals over images or patients; of a multi-label task, one such
threshold per label, each label a binary problem of its own (:func:`choose_label_thresholds`,
:func:`label_report`), and the decisions at them (:func:`names_at_operating_point`). Split out of
:mod:`medtrain.metrics` (one concept per module)."""
from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_curve

from medtrain.errors import MedtrainError
from medtrain.intervals import clustered_wilson, repeated, wilson_interval
from medtrain.tasks import is_no_finding

OPERATING_POINTS = ("youden", "sensitivity=P", "specificity=P")


def parse_operating_point(spec: str) -> tuple[str, float | None]:
    """``youden`` -> ("youden", None); ``sensitivity=0.95`` / ``specificity=0.9`` -> (kind, target in (0, 1))."""
    kind, _, value = str(spec).strip().partition("=")
    kind = kind.strip().lower()
    if kind == "youden" and not value:
        return kind, None
    if kind not in ("sensitivity", "specificity") or not value:
        raise MedtrainError(f"operating_point must be youden, sensitivity=P or specificity=P (0 < P < 1), got {spec!r}")
    try:
        target = float(value)
    except ValueError:
        raise MedtrainError(f"operating_point {spec!r}: {value!r} is not a number") from None
    if not 0.0 < target < 1.0:
        raise MedtrainError(f"operating_point {spec!r}: the target must be in (0, 1), got {target}")
    return kind, target


def positive_index(spec, label_names: dict) -> int:
    """The index of the positive class ``spec`` (a class name or index; None: the last class, whose
    probability MedMNIST's binary AUC scores) among ``label_names`` (``{"0": name, ...}``)."""
    if spec is None:
        return len(label_names) - 1
    names = [label_names[k] for k in sorted(label_names, key=int)]
    if str(spec) in names:
        return names.index(str(spec))
    if str(spec).isdigit() and int(spec) < len(names):
        return int(spec)
    raise MedtrainError(f"positive_class {spec!r} is not a class of the data; its classes are "
                        + ", ".join(repr(n) for n in names))


def _positive(y_true, y_score, positive: int) -> tuple[np.ndarray, np.ndarray]:
    """0/1 labels "is ``positive``" and that class's score (a 1-D score is the last class's)."""
    y_score = np.asarray(y_score, dtype=np.float64)
    s = y_score[:, positive] if y_score.ndim == 2 else (y_score if positive in (-1, 1) else 1.0 - y_score)
    y = np.asarray(y_true).reshape(-1).astype(int)
    return (y == (positive % 2)).astype(int), s


class OperatingPointWarning(UserWarning):
    """An operating point met on validation only by calling no validation image positive, or every one: its
    threshold lies above the top validation score (or below the lowest), which a test set may well not share."""


#: what using a run without its test-time views puts at risk, in the words of each caller (:func:`warn_fitted_with_tta`)
WITHOUT_TTA = {
    "predict": ("predicting without TTA (--no-tta, tta=False), the probabilities differ and decisions at it "
                "(the prediction_at_operating_point column, decide_at_operating_point) may not keep the rates the rule "
                "chose"),
    "export": ("exported without TTA, the graph's probabilities differ and deciding with it at {those} (in the "
               "file's metadata) may not keep the rates the rule chose"),
}


def warn_fitted_with_tta(meta: dict, names, fitted_tta: str, said_for: str = "predict",
                         run_name: str | None = None) -> None:
    """One :class:`OperatingPointWarning` where a run's operating point (recorded in its weights' metadata ``meta``,
    :func:`from_meta`; ``names`` its class names) was chosen on validation probabilities averaged over test-time
    views (``fitted_tta``, the run's TTA: anything but ``"none"``) and is about to be used without them:
    ``--no-tta`` had decided at that threshold without a word (``medtrain predict`` and ``export`` show it as one
    ``medtrain: warning:`` line). It names the run (``run_name``, as shown to the user; a loop over runs could not
    tell which one warned), speaks to its caller (``said_for``, a key of :data:`WITHOUT_TTA`: ``"predict"``, the
    CLI's column and ``decide_at_operating_point``; ``"export"``, the exported graph), and points at the caller's own
    line, the first outside medtrain (through the ``medtrain.load`` wrapper it had pointed at medtrain/__init__.py).
    The one wording for :func:`medtrain.predictor.load` and :func:`medtrain.export.export_run`."""
    op = from_meta(meta, names)
    if op is None or fitted_tta == "none":
        return
    which = f"its {len(op.threshold)} thresholds were" if op.per_label else f"its threshold {op.threshold:.6g} was"
    those = "those thresholds" if op.per_label else "that threshold"
    named = f" (run {run_name})" if run_name is not None else ""
    warnings.warn(OperatingPointWarning(
        f"operating point {op.rule or 'threshold'}: {which} chosen on validation probabilities averaged over the "
        f"run's test-time views (tta {fitted_tta}); {WITHOUT_TTA[said_for].format(those=those)}{named}"),
        stacklevel=_outside_medtrain())


def _outside_medtrain() -> int:
    """The ``stacklevel`` of the first frame outside medtrain, for a warning given by this function's caller: the
    user's line, however many of medtrain's calls lie between (``medtrain.load`` -> ``predictor.load``)."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_globals.get("__name__", "").split(".")[0] == "medtrain":
        frame, level = frame.f_back, level + 1
    return level


def _inside(lo: float, hi: float) -> float | None:
    """A threshold strictly inside the gap ``(lo, hi)`` between two scores, in float64 and once it and the scores
    are rounded to float32 (``medtrain predict`` and ONNX compare float32 probabilities, and numpy compares a
    float32 array with a Python float in float32): their midpoint, else the float32 value next to ``lo``;
    None where float32 has no value strictly inside."""
    f = np.float32
    for t in ((lo + hi) / 2, float(np.nextafter(f(lo), f(hi)))):
        if lo < t < hi and f(lo) < f(t) < f(hi):
            return float(t)
    return None


def choose_threshold(y_true, y_score, spec: str, positive: int = 1) -> float:
    """The threshold on class ``positive``'s score (an image is called positive when score >= threshold)
    that realises the operating point ``spec`` on these labels (the validation split):

    - ``youden``: maximises Youden's J = sensitivity + specificity - 1 (on a block of thresholds of equal J,
      the gap holding the block's middle);
    - ``sensitivity=P``: the highest threshold whose sensitivity is >= P (the best specificity at that
      sensitivity);
    - ``specificity=P``: the lowest threshold whose specificity is >= P (the best sensitivity at it).

    Every threshold inside the gap between the lowest score called positive and the highest called negative
    gives the same validation rates; the midpoint of that gap is returned, never a validation image's own score
    (a test image scoring just below the lowest validation positive would be missed; found in a user
    walkthrough), and far enough from every score that float32 rounding of a probability cannot cross it. Where
    only calling no validation image positive (or every one) meets ``spec``, the gap is the one above the top
    score (below the lowest): the midpoint of the top score and 1 (of 0 and the lowest score), with an
    :class:`OperatingPointWarning` (the threshold had been the top score itself half the time, which called that
    image positive and broke the target).
    """
    kind, target = parse_operating_point(spec)
    y, s = _positive(y_true, y_score, positive)
    if len(np.unique(y)) < 2:
        raise MedtrainError("an operating point needs both classes in the validation split")
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    u = thr[1:]  # the distinct scores, highest first; thr[k] calls u[:k] positive (sklearn's thr[0] is inf)
    if kind == "youden":
        j = tpr - fpr
        i = last = int(np.argmax(j))
        while last + 1 < len(j) and j[last + 1] >= j[i] - 1e-12:  # a plateau of equal J: its whole gap
            last += 1
        top = u[i - 1] if i else max(1.0, u[0])
        bottom = u[last] if last < len(u) else min(0.0, u[-1])
        g = int(np.clip(np.sum(u >= (top + bottom) / 2), i, last))  # the block's gap holding its middle
    elif kind == "sensitivity":
        g = int(np.flatnonzero(tpr >= target - 1e-12)[0])
    else:
        g = int(np.flatnonzero(1.0 - fpr >= target - 1e-12)[-1])
    # gap g: between u[g] (the highest score called negative) and u[g - 1] (the lowest called positive)
    if g == 0:
        t = _inside(u[0], 1.0) if u[0] < 1.0 else None
        t = t if t is not None else _inside(u[0], u[0] + 1.0)
        warnings.warn(OperatingPointWarning(
            f"operating point {spec} is met on validation only by calling no validation image positive: its "
            f"threshold {t:.6g} lies above the top validation score {u[0]:.6g}"), stacklevel=2)
    elif g == len(u):
        t = _inside(0.0, u[-1]) if u[-1] > 0.0 else None
        t = t if t is not None else _inside(u[-1] - 1.0, u[-1])
        warnings.warn(OperatingPointWarning(
            f"operating point {spec} is met on validation only by calling every validation image positive: its "
            f"threshold {t:.6g} lies below the lowest validation score {u[-1]:.6g}"), stacklevel=2)
    else:
        t = _inside(u[g], u[g - 1])
        t = t if t is not None else (u[g] + u[g - 1]) / 2  # scores float32 cannot tell apart: float64's midpoint
    return float(t)


def _outcomes(y_true, y_score, threshold: float, positive: int) -> dict:
    """Per rate, ``(hit, eligible)`` boolean arrays over the images: sensitivity's eligible images are the
    positives and its hits those called positive, and so on."""
    y, s = _positive(y_true, y_score, positive)
    pred = (s >= threshold).astype(int)
    return {"sensitivity": ((y == 1) & (pred == 1), y == 1), "specificity": ((y == 0) & (pred == 0), y == 0),
            "ppv": ((y == 1) & (pred == 1), pred == 1), "npv": ((y == 0) & (pred == 0), pred == 0)}


def rates_at(y_true, y_score, threshold: float, positive: int = 1, groups=None) -> dict:
    """Sensitivity, specificity, PPV and NPV of class ``positive`` when its score >= threshold is called positive
    (NaN when undefined), each with ``{rate}_counts`` ``[hits, eligible images]`` (sensitivity: positives called
    positive, of the positives; ``[45, 50]`` reads 45/50) and its 95% Wilson score interval ``{rate}_ci``
    (:func:`medtrain.intervals.wilson_interval`): at a fixed threshold each rate is a binomial proportion, and the
    interval stays honest at 0 and 1, where a bootstrap's collapses to a point (0 of 21 negatives: [0, 0] by
    bootstrap, [0, 0.155] by Wilson). With ``groups`` (each image's patient, some with several images):
    :func:`clustered_wilson`, the images of a patient not counted as independent, and ``patients`` their number.
    ``metrics.json`` records these on validation (where the threshold was chosen: in-sample) and on test."""
    outcomes, clustered = _outcomes(y_true, y_score, threshold, positive), repeated(groups)
    counts = {k: [int(hit.sum()), int(eligible.sum())] for k, (hit, eligible) in outcomes.items()}
    res = {k: a / n if n else float("nan") for k, (a, n) in counts.items()}
    if clustered:
        res["patients"] = len(set(groups))
    for k, (hit, eligible) in outcomes.items():
        a, n = counts[k]
        res[f"{k}_ci"] = [float("nan"), float("nan")] if not n else clustered_wilson(
            hit[eligible], np.asarray(groups)[eligible]) if clustered else wilson_interval(a, n)
    return {**res, **{f"{k}_counts": c for k, c in counts.items()}}  # (keys in the order metrics.json had them)


def operating_point_report(y_true, y_score, threshold: float, positive: int = 1, groups=None) -> dict:
    """The threshold and :func:`rates_at` it (the four rates, their counts and Wilson, or with ``groups`` clustered
    Wilson, intervals): the test figures of a binary operating point."""
    return {"threshold": float(threshold), **rates_at(y_true, y_score, threshold, positive, groups)}


# --------------------------------------------------------------------------- multi-label: one threshold per label

KEPT = 0.5  #: the threshold of a label that cannot have an operating point (MedMNIST's per-label one)


def choose_label_thresholds(y_true, y_score, spec: str, names) -> tuple[list[float], list[str]]:
    """One threshold per label of a multi-label task: :func:`choose_threshold` of ``spec`` on each label's column
    of ``y_true`` ``(N, L)`` (positive = 1) and of the calibrated validation probabilities ``y_score`` ``(N, L)``.
    A label whose validation split holds no positive or no negative image can have none: it keeps :data:`KEPT`
    (0.5) and is named, in the list returned and in one :class:`OperatingPointWarning`; a label's own warning
    (its rule met only by calling no validation image positive, or every one) is given naming the label.
    Returns ``(thresholds in label order, names of the labels that kept 0.5)``."""
    y_score = np.asarray(y_score, dtype=np.float64)
    y_true = np.asarray(y_true).reshape(y_score.shape).astype(int)
    thresholds, kept = [], []
    for j, name in enumerate(map(str, names)):
        if len(np.unique(y_true[:, j])) < 2:
            thresholds.append(KEPT)
            kept.append(name)
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            thresholds.append(choose_threshold(y_true[:, j], y_score[:, j], spec, positive=1))
        for w in caught:  # said of the label it is about (the binary wording names none)
            said = f"label {name!r}: {w.message}" if issubclass(w.category, OperatingPointWarning) else w.message
            warnings.warn(w.category(said) if isinstance(said, str) else said, stacklevel=2)
    if kept:
        warnings.warn(OperatingPointWarning(f"operating point {spec}: the labels with no threshold keep {KEPT:g} "
                                            f"({kept_clause(kept)})"), stacklevel=2)
    return thresholds, kept


def kept_clause(kept) -> str:
    """The one wording of the labels a multi-label operating point chose no threshold for (they keep :data:`KEPT`),
    in the training warning, the printed and written summaries and ``medtrain predict``'s settings line:
    ``2 kept at 0.5, 'Hernia', 'Edema': no validation positive or negative to choose one on``."""
    return (f"{len(kept)} kept at {KEPT:g}, {', '.join(repr(str(n)) for n in kept)}: "
            "no validation positive or negative to choose one on")


def _columns(y_true, y_score, thresholds) -> tuple[np.ndarray, np.ndarray]:
    y_score = np.asarray(y_score, dtype=np.float64)
    if len(thresholds) != y_score.shape[1]:
        raise MedtrainError(f"{len(thresholds)} thresholds for {y_score.shape[1]} labels")
    return np.asarray(y_true).reshape(y_score.shape).astype(int), y_score


def _label_summary(y_true, y_score, thresholds, per_label: dict) -> dict:
    """Over the labels: the mean sensitivity (specificity) over those where it is defined (a label with no positive
    (negative) image has none) and their number, the labels with positives none of which was called, and the
    images with at least one finding called (and with at least one finding true). A label named as "no finding"
    (:func:`medtrain.tasks.is_no_finding`, CheXpert's ``No Finding``) is no finding there, and is named
    (``not_findings``): counted, it had made every image of such a set "have a finding" (48 of 48)."""
    called = np.column_stack([y_score[:, j] >= float(t) for j, t in enumerate(thresholds)])
    none = [j for j, name in enumerate(per_label) if is_no_finding(name)]
    finding = [j for j in range(called.shape[1]) if j not in none]
    out = {"labels": len(thresholds), **({"not_findings": [list(per_label)[j] for j in none]} if none else {})}
    for k in ("sensitivity", "specificity"):
        defined = [r[k] for r in per_label.values() if r[k] == r[k]]
        out[f"mean_{k}"] = float(np.mean(defined)) if defined else float("nan")
        out[f"{k}_labels"] = len(defined)
    out["labels_sensitivity_0"] = [name for name, r in per_label.items() if r["sensitivity"] == 0]
    out.update(images=int(len(y_score)), images_called=int(called[:, finding].any(1).sum()),
               images_with_finding=int(np.asarray(y_true)[:, finding].any(1).sum()))
    return out


def label_rates(y_true, y_score, thresholds, names, groups=None) -> dict:
    """``{"per_label": {name: rates_at(...)}, "summary": ...}``: each label's sensitivity, specificity, PPV and NPV
    at its own threshold with their counts and intervals (:func:`rates_at`; the validation figures of
    ``metrics.json``), and :func:`_label_summary`'s figures over the labels."""
    y_true, y_score = _columns(y_true, y_score, thresholds)
    per = {str(n): rates_at(y_true[:, j], y_score[:, j], t, 1, groups) for j, (n, t) in enumerate(zip(names, thresholds))}
    return {"per_label": per, "summary": _label_summary(y_true, y_score, thresholds, per)}


def label_report(y_true, y_score, thresholds, names, groups=None) -> dict:
    """:func:`label_rates` with each label's :func:`operating_point_report` (its threshold, the four rates and their
    Wilson, or with ``groups`` clustered Wilson, intervals): the test figures of a multi-label operating point."""
    y_true, y_score = _columns(y_true, y_score, thresholds)
    per = {str(n): operating_point_report(y_true[:, j], y_score[:, j], t, 1, groups)
           for j, (n, t) in enumerate(zip(names, thresholds))}
    return {"per_label": per, "summary": _label_summary(y_true, y_score, thresholds, per)}


def names_at_operating_point(y_score, threshold, positive: int | None, names: list) -> list[str]:
    """The decisions at an operating point as label names. Binary (``threshold`` a number, ``positive`` the
    class's index): the positive class where its probability is >= ``threshold``, else the other class.
    Multi-label (``threshold`` one number per label, ``positive`` None): the labels whose probability is >= their
    own threshold, joined by ``;`` as :func:`medtrain.metrics.predicted_names` joins the labels called at 0.5
    (an image with none called: the empty string)."""
    y_score = np.asarray(y_score)
    if positive is None:
        called = np.column_stack([y_score[:, j] >= float(t) for j, t in enumerate(threshold)])
        return [";".join(str(names[j]) for j in np.flatnonzero(row)) for row in called]
    other = names[1 - positive]
    return [str(names[positive]) if p >= threshold else str(other) for p in y_score[:, positive]]


#: the float32 just above 1: a threshold on raw probabilities that none reaches, 1.0 itself included
ABOVE_ONE = float(np.nextafter(np.float32(1.0), np.float32(2.0)))


def threshold_on_raw_scale(threshold: float, temperature: float | None, lowest: float = 0.0,
                           highest: float = 1.0) -> float:
    """The threshold on the raw (uncalibrated) probability that calls the images ``threshold`` calls on the
    temperature-scaled one: scaling by T is monotone (binary, a softmax over 2 logits: ``p_cal = sigmoid(logit(p) /
    T)``; multi-label: each label's sigmoid alike), so ``p_cal >= t`` exactly where ``p >= sigmoid(T * logit(t))``.
    ``medtrain predict --no-calibration`` and ``medtrain.load(run, calibrated=False)`` state the run's threshold so
    on the scale of the probabilities they give (it had been the calibrated one beside raw probabilities, and the
    file's columns contradicted its decisions). The decisions compare a float32 calibrated probability with the
    threshold in float32 (:func:`names_at_operating_point`), so ``t`` is first the least value that rounds to
    float32's ``t`` or above (where T is small the calibrated probabilities crowd at 0 or 1, and that rounding moves
    the raw threshold by thousandths). ``lowest`` and ``highest``: the float32 calibrated probabilities of a raw 0
    and a raw 1, which the pseudo-logits' clamp keeps inside (0, 1) (at T = 20 a raw 0 scales to about 0.2): ``t``
    at or below ``lowest`` calls every image (``min(t, 0)``), above ``highest`` none (:data:`ABOVE_ONE`). T None or
    1: ``t`` itself."""
    t = float(threshold)
    if temperature is None or float(temperature) == 1.0:
        return t
    f = np.float32
    b = f(t)
    if b <= f(lowest):
        return min(t, 0.0)
    if b > f(highest):
        return max(t, ABOVE_ONE)
    m = (float(np.nextafter(b, f(0.0))) + float(b)) / 2  # the float64 values that round to b or above start here
    z = float(temperature) * (math.log(m) - math.log1p(-m))
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


@dataclass(frozen=True)
class OperatingPoint:
    """A run's operating point as its weights' metadata records it (:func:`from_meta`): ``rule`` (``youden``,
    ``sensitivity=0.95``, ...; None where the metadata does not say), ``threshold`` (binary: one number on class
    ``positive``'s calibrated probability; multi-label: a tuple, one per label, and ``positive`` None) and
    ``not_chosen`` (multi-label: the labels that kept :data:`KEPT`)."""
    rule: str | None
    threshold: float | tuple[float, ...]
    positive: int | None
    not_chosen: tuple[str, ...] = ()

    @property
    def per_label(self) -> bool:
        """A multi-label operating point (one threshold per label)."""
        return self.positive is None

    @property
    def decision(self) -> tuple:
        """``(threshold, positive)`` as :func:`names_at_operating_point` and the predictions file take them."""
        return (list(self.threshold) if self.per_label else self.threshold), self.positive


def from_meta(meta: dict, names) -> OperatingPoint | None:
    """The operating point recorded in a run's weights' metadata (``threshold`` and ``positive_class`` of a binary
    run, ``thresholds`` and ``thresholds_not_chosen`` of a multi-label one; ``operating_point`` the rule), None for
    a run without one. ``names``: the run's class names in order; a binary run's metadata without
    ``positive_class`` means the last class, :func:`positive_index`'s default, which training records."""
    if meta.get("threshold") is not None:
        return OperatingPoint(meta.get("operating_point"), float(meta["threshold"]),
                              int(meta.get("positive_class", len(names) - 1)))
    if meta.get("thresholds") is not None:
        return OperatingPoint(meta.get("operating_point"), tuple(float(t) for t in meta["thresholds"]), None,
                              tuple(str(n) for n in meta.get("thresholds_not_chosen") or ()))
    return None
