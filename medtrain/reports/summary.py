"""The printed summary of a run: plain text made from the content of its ``metrics.json``.

Formatting only; :mod:`medtrain.rundir` writes the files and prints what these functions return, and
``medtrain eval`` prints :func:`operating_point_line` for a re-evaluation.
"""
from __future__ import annotations

from medtrain._auc_interval import DEGENERATE_REASON, FEW_PATIENTS_FOR_AUC_REASON, LABEL_MEAN
from medtrain.data import ORIGIN_KEY, OWN, origin_parts
from medtrain.intervals import FEW_FOR_AUC
from medtrain.operating_point import kept_clause
from medtrain.reports.baselines import ci_text, comparison_table
from medtrain.tasks import MULTILABEL

__all__ = ["run_summary", "choices_line", "operating_point_line", "label_operating_point_line", "auc_acc_line",
           "auc_undefined_text", "auc_interval_why", "auc_interval_sentence", "rests_on", "rests_on_text"]


def _on(out: dict) -> str:
    """``" on cpu, bf16-mixed"``: what trained the run, said once here in place of Lightning's five lines per
    fit (``" on cpu, 2 processes, 32-true"`` for several processes); empty for a run recorded before
    ``metrics.json`` held its device."""
    processes = f"{out['processes']} processes" if out.get("processes", 1) > 1 else None
    said = [v for v in (out.get("device"), processes, out.get("precision")) if v]
    return f" on {', '.join(said)}" if out.get("device") else ""


def _patients(out: dict) -> str:
    """``"; patients train/val/test 98/15/30"``: a patient-grouped run's split in patients, as its first line
    (:func:`medtrain.api.start_line`) gives them; empty for data without patients."""
    groups = (out.get("data") or {}).get("groups") or {}
    return ("; patients train/val/test " + "/".join(str(groups.get(k, "–")) for k in ("train", "val", "test"))
            if groups else "")


def run_summary(out: dict, dataset: str, monitor: str, operating_point: str | None = None,
                fit_summary: str | None = None) -> str:
    """The lines printed at the end of a run: how training went (best/stop epoch, speed, wall time, a
    divergence, an ensemble's members, skipped steps), the choices made on validation, the test AUC and ACC
    with CIs, calibration, the operating point and the published rows beside them. ``out`` is the run's
    ``metrics.json`` content; ``fit_summary`` the training procedure's own first line, where it has one."""
    test, lines = out["test"], []
    kept = (f"the last epoch ({out['best_epoch'] + 1}) kept" if out.get("checkpoint") == "last"
            else f"best epoch {out['best_epoch'] + 1} (by {monitor})")
    lines.append((fit_summary or f"{kept}, stopped after epoch {out['stop_epoch'] + 1}; "
                  f"{out['train_images_per_s']:.0f} train images/s")
                 + _on(out) + f"; wall {out['wall_s']:.0f} s" + _patients(out))
    if "diverged_epoch" in out:
        cause = out.get("diverged_cause") or "weights not finite"  # earlier runs recorded no cause: only weights were checked
        lines.append(f"training diverged in epoch {out['diverged_epoch'] + 1} ({cause}) and stopped "
                     f"there; the run keeps epoch {out['best_epoch'] + 1}, the best before it")
    if "members_val_auc" in out:
        ens = out["members_val_auc"]
        lines.append(f"ensemble of {len(ens['members'])}: val AUC {ens['ensemble']:.4f} (no TTA); its members alone "
                     + ", ".join(f"{a:.4f}" for a in ens["members"]))
    if out.get("choices"):
        lines.append(choices_line(out["choices"]))
    lines.append(auc_acc_line(test, "test ", task=out.get("task")))
    cal = out["calibration"]
    if "test" in cal:
        if cal.get("rule", "fitted") == "fitted":
            at_bound = cal.get("at_bound")  # T = 20 (or 0.05) had read as an ordinary fit
            lines.append(f"test ECE {cal['test']['ece']:.4f} -> {cal['test']['ece_scaled']:.4f} after temperature "
                         f"scaling (T = {cal['temperature']:.3f}, fitted on validation"
                         + (f", {bound_reason(cal['temperature'], out)})" if at_bound else ")"))
        else:
            lines.append(f"test ECE {cal['test']['ece']:.4f}, no temperature scaling ({cal['rule']})")
    if "test" in out.get("operating_point", {}):
        op = out["operating_point"]
        shown = {**op["test"], "not_chosen": op.get("not_chosen") or []} if "per_label" in op["test"] else op["test"]
        lines.append(operating_point_line(shown, operating_point or "operating point"))
    lines.append(comparison_table(dataset, test["auc"], test["acc"], test["auc_ci"], test["acc_ci"],
                                  shape=(out.get("data") or {}).get("shape")))
    return "\n".join(lines)


def choices_line(choices: dict) -> str:
    """One line of what was chosen on validation and why (:mod:`medtrain.training.choices`)."""
    def nums(d: dict) -> str:
        key = next((k for k in d if k.startswith("val_") and isinstance(d[k], dict)), None)
        if key is None:
            return ""
        return " (" + key.replace("_", " ") + " " + ", ".join(f"{k} {v:.4f}" for k, v in d[key].items()) + \
            _flip_rule(d[key], d.get("margin")) + ")"

    parts = []
    for key, label in (("flip", "flips"), ("tta", "TTA"), ("class_weights", "class weights")):
        if key in choices:
            c = choices[key]
            value = {True: "on", False: "off"}.get(c["chosen"], c["chosen"])
            fitted = c.get("val_acc_crossfit")
            parts.append(f"{label} {value}: {c['how']}{nums(c)}" + (
                f" (cross-fitted val acc val-fitted {fitted['val-fitted']:.4f}, kept if ahead by > {fitted['margin']})"
                if fitted else ""))
    return "choices: " + "; ".join(parts)


def _flip_rule(scores: dict, margin) -> str:
    """The flip pilots' rule applied: ``; without - with = 0.009997, not > the 0.01 margin``. Scores of 0.9103 and
    0.9203 had read as a 0.0100 lead that should have dropped flips; the lead is printed with the digits that
    tell it from the margin."""
    if margin is None or not {"with", "without"} <= set(scores):
        return ""
    lead = scores["without"] - scores["with"]
    text = f"{lead:.4f}"
    if float(text) == round(margin, 4) and lead != margin:  # 0.0100 of a 0.01 margin: which side is it on?
        text = f"{lead:.6f}"
    return f"; without - with = {text}{' >' if lead > margin else ', not >'} the {margin:g} margin"


#: why a binary AUC's interval is not the bootstrap's (:func:`medtrain.metrics.acc_auc_ci`); "{images}": the
#: units of the split it is about ("test images", "images" where the split is not known: a re-evaluation of
#: any split, pooled out-of-fold predictions; "test patients", "patients" where patients have several images)
_NEWCOMBE = f"fewer than {FEW_FOR_AUC} {{images}} of a class, too few for a bootstrap interval of AUC to hold 95%"
#: ... of a multi-class AUC's
_DELONG = "too few {images} per class for a bootstrap interval of AUC to hold 95%"
#: ... of a multi-class AUC of 1 (or 0), where the logit interval has no width
_SCORE = ("too few {images} per class for a bootstrap interval of AUC to hold 95%, and at an AUC of {auc:g} the "
          "logit interval has no width")
#: ... of an AUC of 1 (or 0) over many units: every resample separates the classes as perfectly
_DEGENERATE = ("at an AUC of {auc:g} the scores separate the classes perfectly, so every resample gives {auc:g} and "
               "a bootstrap interval would be the point [{auc:g}, {auc:g}]")
#: ... of a multi-label mean AUC (:data:`medtrain._auc_interval.LABEL_MEAN`): a label with few units of a side
_LABEL_FEW = (f"a label has fewer than {FEW_FOR_AUC} {{images}} of a side (positive or negative), too few for a "
              "bootstrap interval of AUC to hold 95%")
#: ... or every label separated perfectly
_LABEL_DEGENERATE = ("at a mean AUC of {auc:g} the scores separate every label perfectly, so every resample gives "
                     "{auc:g} and a bootstrap interval would be the point [{auc:g}, {auc:g}]")
#: how the label-mean interval is made, and why it is conservative (:func:`medtrain._auc_interval.label_mean`)
_LABEL_HOW = ("AUC's is the mean of the ends of the labels' own intervals (each Newcombe's score interval where the "
              "label has few units of a side or an AUC of 1 or 0, else its bootstrap interval; conservative: it "
              "claims no more than they do): ")
NEWCOMBE_WHY = _NEWCOMBE.format(images="images")
DELONG_WHY = _DELONG.format(images="images")


def auc_interval_why(res: dict, images: str = "images") -> str | None:
    """Why the AUC's interval in ``res`` is not the bootstrap's, from its ``auc_ci_method`` and ``auc_ci_reason``:
    few images of a class, or few patients where patients have several images (``images``, ``"test images"``,
    is then said as patients), or a perfect separation; for a multi-label mean AUC (``"label-mean"``), a label with
    few of them of a side, or every label separated perfectly; None for a bootstrap interval."""
    method, reason = res.get("auc_ci_method"), res.get("auc_ci_reason")
    if method not in ("newcombe", "delong-logit", "score", LABEL_MEAN):
        return None
    patients = reason == FEW_PATIENTS_FOR_AUC_REASON or (method == "score" and res.get("patients"))
    if method == LABEL_MEAN:  # a multi-label mean: its labels' intervals averaged
        return (_LABEL_DEGENERATE.format(auc=round(res["auc"], 4)) if reason == DEGENERATE_REASON
                else _LABEL_FEW.format(images=images.replace("images", "patients") if patients else images))
    if reason == DEGENERATE_REASON:
        return _DEGENERATE.format(auc=round(res["auc"], 4))
    units = images.replace("images", "patients") if patients else images
    # (over patients the score interval is taken at any AUC: the logit one's influences are images', not units)
    return (_NEWCOMBE.format(images=units) if method == "newcombe" else _DELONG.format(images=units)
            if method == "delong-logit" or patients else _SCORE.format(images=units, auc=round(res["auc"], 4)))


def auc_interval_sentence(res: dict, images: str = "images") -> str | None:
    """How the AUC's interval in ``res`` was made where it is not the bootstrap's, and why (:func:`auc_interval_why`),
    as the printed line says it: ``AUC's is Newcombe's score interval: fewer than 30 images of a class, ...``; None
    for a bootstrap interval. One wording for every method (a cross-validation's note can say it as it is)."""
    why = auc_interval_why(res, images)
    if why is None:
        return None
    return {"newcombe": "AUC's is Newcombe's score interval: ", "delong-logit": "AUC's is DeLong's on the logit scale: ",
            "score": "AUC's is a score interval of the mean one-vs-rest AUC (as Newcombe's): ",
            LABEL_MEAN: _LABEL_HOW}[res["auc_ci_method"]] + why


def _names(names: list, most: int = 5) -> str:
    """``'a'``, ``'a' and 'b'``, ``'a', 'b' and 'c'``; past ``most``, ``... and 3 more``."""
    q = [repr(str(n)) for n in names[:most]] + ([f"{len(names) - most} more"] if len(names) > most else [])
    return q[0] if len(q) == 1 else ", ".join(q[:-1]) + " and " + q[-1]


def auc_undefined_text(res: dict, images: str = "these data", digits: int = 4) -> str | None:
    """Why the AUC is undefined (:func:`medtrain.metrics.auc_undefined`, ``res["auc_undefined"]``) and the mean
    AUC over the classes where it is defined, labelled as such: ``no 'lymphoma' image in these data; mean over
    the 7 other classes 0.8670``; None where the AUC is not undefined for lack of a class."""
    u = res.get("auc_undefined")
    if not u:
        return None
    unit, rest = u.get("unit", "class"), u.get("rest") or 0
    if unit == "label":
        said = [f"{'labels' if len(n) > 1 else 'label'} {_names(n)} {words}"
                for n, words in ((u.get("no_positive") or [], f"never positive in {images}"),
                                 (u.get("no_negative") or [], f"positive in every image of {images}")) if n]
    else:  # one class per image: a class with every image leaves the others with none; those say it
        said = [f"no {_names(u.get('no_positive') or u.get('no_negative') or [])} image in {images}"]
    units = "labels" if unit == "label" else "classes"
    mean = u.get("mean_over_rest")
    if mean is not None and rest:
        said.append(f"mean over the {rest} other {units if rest > 1 else unit} {mean:.{digits}f}")
    return "; ".join(said)


def auc_undefined_mark(runs: list[dict]) -> str | None:
    """What seeds.png says in place of a cell's test AUC where every run records it undefined for lack of a class
    (``test.auc_undefined``: :func:`auc_undefined_text`): ``AUC undefined: no 'malignant'
    image in the test split``, or, where the runs' reasons differ, that each run's test split lacks one. None where a
    run has a value or records no such reason."""
    why = [auc_undefined_text((r.get("test") or {}), "the test split", 3) for r in runs]
    if not runs or not all(why):
        return None
    return "AUC undefined: " + (why[0] if len(set(why)) == 1 else "each run's test split lacks a class")


def rests_on(res: dict) -> tuple[int, int] | None:
    """(resamples the AUC's bootstrap interval rests on, resamples drawn) where it rests on fewer than all: the
    draws are not stratified (multi-label rows, patients of several classes), and where a label has few
    positives some draws hold none (657 of 1000 with one positive among 160 images). ACC is defined in every
    draw, so its count is the number drawn. None otherwise."""
    used, drawn = res.get("auc_ci_draws"), res.get("acc_ci_draws")
    if not (used and drawn and used < drawn and ci_text(res.get("auc_ci")) and not res.get("auc_ci_method")):
        return None
    return int(used), int(drawn)


def rests_on_text(res: dict, task: str | None = None) -> str | None:
    """The one wording of :func:`rests_on`, for the printed line and the report: ``AUC's interval rests on the 657
    of 1000 resamples in which it is defined: in the others a label had no positive or no negative image``
    ("a class", or "a class or label" where ``task`` is not given); None where it rests on every resample."""
    counts = rests_on(res)
    if counts is None:
        return None
    unit = "class or label" if task is None else "label" if task == MULTILABEL else "class"
    return ("AUC's interval rests on the {} of {} resamples in which it is defined: in the others a {} had no "
            "positive or no negative image".format(*counts, unit))


def auc_acc_line(res: dict, prefix: str = "", digits: int = 4, task: str | None = None) -> str:
    """``AUC a [lo, hi]  ACC b [lo, hi]  (95% bootstrap CIs)``, or without the intervals when there are none
    (``--bootstrap 0``: they printed as ``[nan, nan]``). Where an interval is not a bootstrap one the
    parenthesis names its method and why; where neither is, it reads ``(95% CIs: ...)``. ``prefix`` names
    the split (``"test "``): the reasons speak of its images, else of "images" (a re-evaluation of any split,
    pooled out-of-fold predictions); ``task``, where given, names a class or a label in :func:`rests_on_text`."""
    auc, acc = ci_text(res.get("auc_ci")), ci_text(res.get("acc_ci"))
    split = prefix.strip()
    images = f"{split} images" if split else "images"
    unit = f" over {res['patients']} patients" if res.get("patients") else ""
    # a class absent from the data: the AUC is undefined (not a matter of resamples), said with the mean over the rest
    undefined = auc_undefined_text(res, f"the {split} split" if split else "these data", digits)
    parts = []
    if res.get("acc_ci_method") == "wilson":
        few = f"too few {split + ' ' if split else ''}{'patients' if res.get('patients') else 'images'} per class " \
              "to resample within classes"
        reason = res.get("acc_ci_reason")  # (older runs recorded a reason for few units only)
        parts.append("ACC's is Wilson's: " + ("every image right" if res["acc"] == 1 else "every image wrong"
                                              if res["acc"] == 0 else few if reason == "few units per class"
                                              else "the network calls every image one class"
                                              if reason == "every image called one class"
                                              else "the same ACC in every resample"))
    if auc and auc_interval_sentence(res, images):
        parts.append(auc_interval_sentence(res, images))
    elif auc and rests_on(res):  # unstratified draws (multi-label rows) some of which miss a rare label
        parts.append(rests_on_text(res, task))
    if acc and not auc and not undefined and res.get("auc_ci_draws") == 0:  # (one image per class)
        parts.append("no AUC interval: the resamples cannot differ")
    elif acc and not auc and not undefined and res.get("auc_ci_draws") is not None:  # undefined in most
        parts.append(f"AUC's is defined in only {res['auc_ci_draws']} resamples, too few for an interval")
    if auc or acc:
        bootstrapped = (auc and not res.get("auc_ci_method")) or (acc and not res.get("acc_ci_method"))
        why = (f"(95% bootstrap CIs{unit}" + "".join("; " + p for p in parts) + ")" if bootstrapped
               else f"(95% CIs{unit}: " + "; ".join(parts) + ")")
    elif res.get("auc_ci_draws") == 0:  # the resamples cannot differ (intervals.Resampler.varies)
        units = f"{res['patients']} patient(s)" if res.get("patients") else "a single image per class"
        why = f"(no CIs: {units}; a bootstrap over them cannot vary)"
    elif res.get("auc_ci_draws") is not None:
        why = "(no CIs: AUC and ACC are defined in too few resamples)"
    else:
        why = "(no CIs: the run was trained with --bootstrap 0)"
    shown = f"undefined ({undefined})" if undefined else f"{res['auc']:.{digits}f}{auc}"
    return f"{prefix}AUC {shown}  {prefix}ACC {res['acc']:.{digits}f}{acc}  " + why


def operating_point_line(op: dict, rule: str = "operating point") -> str:
    """One line: the test rates at the operating point, for its named positive class, with their CIs; for a
    multi-label run's (``per_label``), :func:`label_operating_point_line`."""
    if "per_label" in op:
        return label_operating_point_line(op, rule)
    parts = [f"{k} {op[k]:.3f}{ci_text(op.get(k + '_ci'))}" if op.get(k) is not None and op[k] == op[k] else f"{k} –"
             for k in ("sensitivity", "specificity", "ppv", "npv")]  # an undefined rate or interval: no NaN
    positive = f", positive class {op['positive_class']!r}" if "positive_class" in op else ""
    unit = f", effective sizes over {op['patients']} patients" if op.get("patients") else ""
    return f"{rule} (threshold {op['threshold']:.4f}{positive}): " + "  ".join(parts) + f"  (95% Wilson CIs{unit})"


def label_operating_point_line(op: dict, rule: str = "operating point") -> str:
    """A multi-label operating point in one line: its per-label thresholds (``not_chosen``: the labels that kept
    :data:`~medtrain.operating_point.KEPT`, :func:`~medtrain.operating_point.kept_clause`), the mean sensitivity and specificity over the labels where they are
    defined, the labels with positives none of which was called, and the images with a finding called:
    ``youden, a threshold for each of 14 labels: mean sensitivity 0.713 over 14 labels, mean specificity 0.801
    over 14 labels; 96 of 160 images have a finding called``."""
    s, kept = op["summary"], list(op.get("not_chosen") or [])
    how = f"a threshold for each of {s['labels']} labels" + (
        f" ({kept_clause(kept)})" if kept else "")

    def mean(k: str) -> str:
        m = s[f"mean_{k}"]
        return f"mean {k} {m:.3f} over {s[f'{k}_labels']} label{'s' if s[f'{k}_labels'] != 1 else ''}" \
            if m is not None and m == m else f"mean {k} –"
    zero = s.get("labels_sensitivity_0") or []
    missed = f"; {len(zero)} label{'s' if len(zero) != 1 else ''} with sensitivity 0 ({_names(zero)})" if zero else ""
    other = s.get("not_findings") or []  # "No Finding": not a finding called, nor one an image has
    return (f"{rule}, {how}: {mean('sensitivity')}, {mean('specificity')}{missed}; "
            f"{s['images_called']} of {s['images']} images have a finding called"
            + (f" ({_names(other)} not counted as a finding)" if other else ""))


def bound_reason(temperature: float, out: dict) -> str:
    """Why a fitted temperature rests on an end of its range, from what the run's validation scores show: at the
    bottom, sharpened to near-certainties because they separate the classes almost without error (validation AUC >=
    0.95), or because they crowd together and a small T spreads them (a multi-label fold of AUC 0.68, its one T for
    every label, had been told its scores were separated almost without error); at the top, flattened towards
    uniform because they barely separate the classes, or because the network is surer than it is right."""
    auc = (out.get("val") or {}).get("auc")
    known = auc is not None and auc == auc
    shared = " (one T for every label)" if str(out.get("task", "")).startswith("multi-label") else ""
    if temperature > 1:
        why = ("the validation scores barely separate the classes" if known and auc < 0.6 else
               "the network is surer than validation shows it to be right")
        return f"at the top of its range{shared}: {why}, so the probabilities are flattened almost to uniform"
    why = ("the validation scores separate the classes almost without error" if known and auc >= 0.95 else
           f"the validation scores crowd together{f' (validation AUC {auc:.3f})' if known else ''} and the "
           "smallest T spreads them")
    return f"at the bottom of its range{shared}: {why}, so the probabilities are sharpened as far as it allows"


#: why linear probes of several seeds come out alike, said where they do (one wording: a comparison's note here, and
#: a probe's run, :mod:`medtrain.training.probe`, where it imports it): the seed draws nothing in a convex fit of the
#: frozen network's codes, nor in the splits of data that bring their own (a split medtrain draws, with
#: ``val_fraction``/``test_fraction`` or ``--folds``, changes with the seed, and so does the probe)
SAME_PROBE = ("every seed gives the same probe (a convex fit on the frozen network's codes: no initialisation, batch "
              "order or augmentation to draw, and the data's own splits)")


def same_probe(runs: list[dict]) -> bool:
    """Whether a cell's ``runs`` are linear probes of 2+ seeds, each recording ``probe.seeds``, on splits that are
    the data's own: none recorded as drawn or dealt into folds by medtrain (``data.split_origin``), with which each
    seed trains its probe on other images (a run recorded before the origin was: as its probe says)."""
    return len({r.get("seed") for r in runs}) > 1 and all((r.get("probe") or {}).get("seeds") for r in runs) and \
        not any(_seeded_split(r) for r in runs)


def _seeded_split(run: dict) -> bool:
    """Whether ``run``'s val or test split was drawn by its seed (``drawn``, or a ``fold`` of --folds)."""
    parts = origin_parts(((run.get("data") or {}).get(ORIGIN_KEY)))
    return parts is not None and any(p != OWN for p in parts.values())


def same_probe_note(names: list[str]) -> str:
    """Said under a comparison whose cells ``names`` are :func:`same_probe` (a walk's table: ``0.712 ± 0.000``)."""
    return (f"Linear probes: {', '.join(names)}. {SAME_PROBE[0].upper()}{SAME_PROBE[1:]}, so a probe's ± 0 is one "
            "result repeated, a Δ with it pairs that one probe with each seed of the other cell, and its kept and stop "
            "epochs count none: it trains no epoch.") if names else ""
