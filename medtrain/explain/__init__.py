"""``medtrain explain``: where a finished run looks. Saliency maps of 2D and 3D runs by Grad-CAM
(Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization",
ICCV 2017), Grad-CAM++ (Chattopadhyay et al., WACV 2018) and occlusion sensitivity (Zeiler & Fergus,
"Visualizing and Understanding Convolutional Networks", ECCV 2014), on ``monai.visualize`` (Grad-CAM++'s
weights as the paper's eq. 19, not MONAI 1.6's variant: :func:`_gradcam_pp_class`).

Inputs are read exactly as ``medtrain predict`` reads them (:func:`medtrain.predict_inputs.python_items` and
:func:`~medtrain.predict_inputs.conform`), or taken from the run's own split. Each map explains the network's
plain forward pass (no test-time augmentation, dropout off: one deterministic pass of a run trained with
``--mc-dropout N`` too, whose probabilities, and so the class explained, are the mean of its N passes, as predict's
are) for one target class: the predicted class
by default (multi-label: the label of highest probability, even where none is above 0.5, predicted present), or
the one asked for. Maps have the model's input resolution, ``(*spatial)`` (a 2D image of another size is resized to it,
as ``predict`` resizes it; a NIfTI file or DICOM series is read at it; a .npz or array volume of another size is
refused), scaled to [0, 1] per input (min-max; a map without any positive evidence is all zeros).

**Grad-CAM++ and the sanity checks** (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018): on these
networks, whose head is global average pooling and a linear layer, its maps hardly depend on the class explained
or on the trained weights (:data:`GRADCAM_PP_CAVEAT`, said as a :class:`GradCAMppWarning`). Grad-CAM and occlusion
pass both checks; Grad-CAM also lights bright structures the decision does not use, which occlusion does not.

**Which layer** (Grad-CAM, Grad-CAM++): :mod:`medtrain.explain.layers` says why it is not the last stage at
28 px. The layer's coarse map is resampled to the input with each cell on its measured receptive-field centre
(:mod:`medtrain.explain._upsample`; MONAI's default interpolation had drawn it half a cell down-right).

Occlusion hides a square (cube) of :func:`occlusion_mask` pixels (about 1/7 of the side, at least 3)
with the image's mean, slid by half its side; the map is the drop of the target's (uncalibrated) probability, clamped at 0. It needs one forward pass per window position: thousands for a volume.
"""
from __future__ import annotations

import itertools
import os
import re
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Iterable, Sequence

import numpy as np
import torch

from medtrain.runmodel import RunModel, float32_default, load_run_module
from medtrain.data._volume_notes import notes_once
from medtrain.errors import MedtrainError
from medtrain.explain._upsample import cell_centre_upsampler
from medtrain.explain.layers import MIN_CELLS, LogitNet, check_layer, default_layer, stage_shapes, target_layers
from medtrain.explain.write import MAPS_FILE, check_out, write_explanation
from medtrain.metrics import predictions, scores_from_logits
from medtrain._predict_squash import squashes_once
from medtrain.predict_inputs import InputName, Item, Skipped, conform, model_affine, python_items
from medtrain.predictor import Predictor
from medtrain.rundir import run_splits
from medtrain.tasks import MULTILABEL

__all__ = ["METHODS", "MIN_CELLS", "MAPS_FILE", "Explanation", "GradCAMppWarning", "LogitNet", "default_layer",
           "stage_shapes", "class_index", "explain", "explain_items", "write_explanation"]

METHODS = ("gradcam", "gradcam++", "occlusion")
BATCH_SIZE = 32  #: inputs per Grad-CAM forward/backward pass
#: Occlusion windows overlap by half, a stride of half the mask. MONAI's default 0.6 makes the stride
#: int(4 * 0.4) = 1 pixel for a 28 px image's 4-pixel mask: 625 windows instead of 169 (25^3 vs 13^3 in 3D);
#: measured on 2 busy CPU cores, 2.7 s against 0.9 s per 28 px image, at the same localisation.
OCCLUSION_OVERLAP = 0.5
#: Why Grad-CAM++ maps are no evidence of which class the network sees. Measured by a walkthrough on a 28 px task
#: (a 6x6 square decides the class; resnet10_28_half, test AUC 1.0), Spearman rank correlation of the maps of the
#: same 40 images: the output layer re-initialised vs trained +0.89 (Grad-CAM +0.17), every layer re-initialised
#: +0.76, --target 0 vs --target 1 +0.83 (Grad-CAM -0.23, occlusion -0.76); MONAI's GradCAMpp gives the same.
#: The method's, on a global-average-pooling + linear head: the gradient at the last stage is w_k / HW, constant
#: over space, so alpha = 1/2 and the channel weights become relu(w_k) whatever the class.
GRADCAM_PP_CAVEAT = ("gradcam++ maps hardly depend on the class explained or on the trained weights of these "
                     "global-pooling networks (measured: rank correlation +0.83 between the maps of targets 0 and 1, "
                     "gradcam -0.23; +0.89 with the output layer re-initialised, gradcam +0.17): use gradcam or "
                     "occlusion to tell classes apart")


class GradCAMppWarning(UserWarning):
    """``method="gradcam++"`` was chosen: :data:`GRADCAM_PP_CAVEAT`."""


def _caveat(method: str, stacklevel: int) -> None:
    if method == "gradcam++":
        warnings.warn(GradCAMppWarning(GRADCAM_PP_CAVEAT), stacklevel=stacklevel + 1)


def class_index(target, labels: Sequence[str]) -> int | None:
    """A class given by name or by index, as its index; None stays None (the predicted class)."""
    if target is None:
        return None
    s = str(target).strip()
    if s in labels:
        return list(labels).index(s)
    if re.fullmatch(r"\d+", s) and int(s) < len(labels):
        return int(s)
    raise MedtrainError(f"unknown target class '{target}'; the run's classes are {', '.join(map(repr, labels))} "
                        f"(by name or index 0..{len(labels) - 1})")


def occlusion_mask(run: RunModel) -> int:
    """The occluded square's side: about 1/7 of the input's side, at least 3 pixels."""
    return max(3, round(min(run.input_shape[1:]) / 7))


def _minmax(m: torch.Tensor) -> torch.Tensor:
    """Each map of ``(B, 1, *spatial)`` scaled to [0, 1]; a constant map becomes zeros. (MONAI's default
    post-processing maps the maximum to 0, the reverse of what is wanted here.)"""
    flat = m.reshape(len(m), -1)
    lo, hi = flat.min(1).values, flat.max(1).values
    span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    view = (-1,) + (1,) * (m.ndim - 1)
    return torch.where((hi > lo).view(view), (m - lo.view(view)) / span.view(view), torch.zeros_like(m))


@dataclass(repr=False)
class Explanation:
    """The saliency maps of the explained inputs, in input order.

    Attributes:
        maps: ``(N, *spatial)`` float32 in [0, 1], at the model's input resolution (that of ``images``).
        targets: ``(N,)`` the explained class of each input (by default the class ``medtrain predict`` decides:
            at the run's operating point where a binary run has one, its ``prediction_at_operating_point``;
            multi-label: the label of highest probability, even where none is above 0.5, predicted present).
        probs: ``(N, K)`` the probabilities ``medtrain predict`` reports for the inputs (the run's test-time
            augmentation, MC dropout and calibration temperature), so an overlay's p is the predicted one.
        images: ``(N, C, *spatial)`` uint8, the inputs as the network took them.
        mc_dropout: the run's MC-dropout passes that ``probs`` average (0: none); the maps are of one pass of the
            network with dropout off, whatever it is.
        operating_point: ``(positive class, threshold)`` at which ``targets`` were decided (a binary run's operating
            point: the positive class where its probability >= the threshold); None: at 0.5 or argmax, or a
            ``target`` given.
        multilabel: whether the run is multi-label (``targets`` are labels, each called or not on its own).
        label_thresholds: a multi-label run's threshold of each label on ``probs``' scale (its operating point's), or
            None: each label called at 0.5; an overlay says whether its label is called (a map titled "Effusion (p =
            0.439)" over an image where nothing is called had read as Effusion being there).
        affines: per input, the 4x4 affine from an index ``(x, y, z)`` of its map taken in RAS order (``maps[i]``
            transposed: ``(W, H, D)``) to its NIfTI file's or DICOM series' millimetres (:func:`medtrain.predict_inputs.model_affine`),
            which ``NNNN_<name>_map.nii.gz`` carries; None where the input is neither (empty: none).
    """

    names: list[str]
    maps: np.ndarray
    targets: np.ndarray
    probs: np.ndarray
    images: np.ndarray
    labels: list[str]
    method: str
    layer: str | None
    skipped: list[Skipped] = field(default_factory=list)
    mc_dropout: int = 0
    operating_point: tuple[str, float] | None = None
    affines: list = field(default_factory=list)
    label_thresholds: dict | None = None
    multilabel: bool = False

    def __repr__(self) -> str:
        """The method (and layer), the target class(es), how many inputs and the maps' shape: the dataclass's repr
        had printed every array (3,961 characters for 4 images); the arrays are its attributes."""
        how = f"{self.method} at {self.layer!r}" if self.layer else self.method
        counts: dict[str, int] = {}
        for t in np.asarray(self.targets).reshape(-1).tolist():
            name = self.labels[int(t)] if 0 <= int(t) < len(self.labels) else str(t)
            counts[name] = counts.get(name, 0) + 1
        shown = [f"{name!r}" + (f" x{n}" if len(counts) > 1 else "") for name, n in list(counts.items())[:6]]
        shown += [f"... ({len(counts)} classes)"] if len(counts) > 6 else []
        targets = f"{'target' if len(counts) == 1 else 'targets'} {', '.join(shown)}" if counts else "no targets"
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        return (f"Explanation({how}, {len(self.names)} input{'s' if len(self.names) != 1 else ''}, {targets}, "
                f"maps {tuple(np.shape(self.maps))}{skipped})")


def explain_items(run: RunModel, items: Iterable[Item], method: str = "gradcam", target=None,
                  layer: str | None = None, skip_bad: bool = False, batch_size: int = BATCH_SIZE) -> Explanation:
    """Explain each of ``items`` (see :func:`explain`); bad items raise, or with ``skip_bad`` are listed in
    ``skipped``. Computed under torch's float32 default dtype, the caller's restored after. ``gradcam++`` warns
    (:class:`GradCAMppWarning`)."""
    with notes_once():  # volumes cut by the run's crop, or windowed without air: one line each for all of them
        res = _explain_items(run, items, method, target, layer, skip_bad, batch_size)
    _caveat(method, stacklevel=2)  # once the maps are made: a bad input stays the one line of its error
    return res


@float32_default()  # a caller's torch.set_default_dtype(torch.float64) had failed Grad-CAM on the float32 network
def _explain_items(run: RunModel, items: Iterable[Item], method: str, target, layer: str | None, skip_bad: bool,
                   batch_size: int) -> Explanation:
    from monai.visualize import GradCAM, OcclusionSensitivity

    if method not in METHODS:
        raise MedtrainError(f"unknown explanation method '{method}'; choose one of {', '.join(METHODS)}")
    labels = run.label_names
    fixed = class_index(target, labels)
    net = LogitNet(run).eval()
    task = run.meta["task"]
    predictor = Predictor(run, batch_size=batch_size)
    op = predictor.operating_point if task != MULTILABEL and fixed is None else None  # (rule, threshold, positive)
    if method == "occlusion":
        layer = None
        explainer = OcclusionSensitivity(net, mask_size=occlusion_mask(run), n_batch=32, verbose=False,
                                         mode="mean_img", overlap=OCCLUSION_OVERLAP, activate=partial(scores_from_logits, task=task))
    else:
        layer = check_layer(run, layer) if layer else default_layer(run)
        cam = GradCAM if method == "gradcam" else _gradcam_pp_class()
        # each cell drawn at its receptive field's centre (MONAI's default drew it ~1.5 px down-right at 28 px)
        explainers = [cam(net, target_layers=t, postprocessing=_minmax,
                          upsampler=cell_centre_upsampler(net, t, run.input_shape)) for t in target_layers(run, layer)]
    names, maps, targets, probs, images, skipped, affines = [], [], [], [], [], [], []

    def flush(buf: list[torch.Tensor]) -> None:
        """Explain one batch: predict's probabilities and decisions (an explained class that differed from the
        predicted one, or a p that differed from predict's, would contradict ``medtrain predict``), then the
        maps of the plain network, Grad-CAM batched over the inputs of one target class (MONAI scores one
        class per call)."""
        x = torch.stack(buf).float() / 255.0
        p = predictor.predict(torch.stack(buf))
        # a binary run's class at its operating point, as predict's prediction_at_operating_point: the overlay of
        # an image called 'tumour' there had said 'normal (p = 0.638)' (the class at 0.5; walk 'oppoint')
        at_op = predictor.decide_at_operating_point(p) if op is not None else None
        decided = p.argmax(1) if task == MULTILABEL else \
            [labels.index(n) for n in at_op] if at_op is not None else predictions(p, task)
        k = torch.as_tensor(decided, dtype=torch.long) if fixed is None else torch.full((len(x),), fixed)
        out = torch.zeros(len(x), *x.shape[2:])
        if method == "occlusion":  # MONAI occludes one image at a time
            with torch.no_grad():  # the reference: the plain score the occluded forward passes are compared to
                logits = net(x).float()
            for i in range(len(x)):
                with torch.no_grad(), warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # MONAI 1.6 indexes with a list (a torch deprecation)
                    occluded, _ = explainer(x[i:i + 1])
                    p_i = scores_from_logits(logits[i:i + 1], task)[0, k[i]]
                out[i] = _minmax((p_i - occluded[:, k[i]:k[i] + 1]).clamp_min(0))[0, 0]
        else:
            for c in k.unique().tolist():
                s = torch.nonzero(k == c).flatten()
                with torch.enable_grad():  # an ensemble: the mean of its members' maps, scaled again
                    mean = sum(e(x[s].requires_grad_(True), class_idx=c)[:, 0].detach().float()
                               for e in explainers) / len(explainers)
                out[s] = _minmax(mean[:, None])[:, 0] if len(explainers) > 1 else mean
        maps.extend(out.numpy())
        targets.extend(k.tolist())
        probs.extend(p)
        images.extend(t.numpy() for t in buf)
        buf.clear()

    buf: list[torch.Tensor] = []
    for item in items:
        try:
            x = conform(item.load(), item.name, run)
            affine = model_affine(item.name, run)  # where its map lies in the scan (a NIfTI file), read as it was
        except MedtrainError as e:
            if not skip_bad:
                raise
            skipped.append(Skipped(item.name, str(e)))
            continue
        buf.append(x)
        names.append(item.name)
        affines.append(affine)
        if len(buf) == batch_size:
            flush(buf)
    if buf:
        flush(buf)
    shape = run.input_shape
    return Explanation(names=names,
                       maps=np.stack(maps).astype(np.float32) if maps else np.zeros((0, *shape[1:]), np.float32),
                       targets=np.asarray(targets, dtype=np.int64),
                       probs=np.stack(probs) if probs else np.zeros((0, len(labels)), np.float32),
                       images=np.stack(images) if images else np.zeros((0, *shape), np.uint8),
                       labels=labels, method=method, layer=layer, skipped=skipped, mc_dropout=run.cfg.mc_dropout,
                       operating_point=None if op is None else (labels[op[2]], op[1]), affines=affines,
                       label_thresholds=predictor.settings().get("thresholds") if task == MULTILABEL else None,
                       multilabel=task == MULTILABEL)


def _gradcam_pp_class():
    """Grad-CAM++ as Chattopadhay et al. write it (WACV 2018, eq. 19, and their code): with Y = exp(S),
    ``alpha_ij = g_ij^2 / (2 g_ij^2 + g_ij^3 sum_ab A_ab)`` (0 where the denominator is), channel weights
    ``sum_ij alpha_ij relu(g_ij)``, map ``relu(sum_k w_k A_k)``; ``g = dS/dA``. exp(S) cancels in alpha and
    scales the weights of one image alike, which the min-max scaling removes. Written here because MONAI 1.6's
    ``GradCAMpp`` sums ``A_ab g_ab^3`` over the map in the denominator and adds 1e-7, more than ``2 g^2`` at
    typical gradients: its maps were 0.28-0.56 off the paper's on trained runs (a user walkthrough)."""
    import torch.nn.functional as F
    from monai.visualize import GradCAM

    class GradCAMpp(GradCAM):
        def compute_map(self, x, class_idx=None, retain_graph=False, layer_idx=-1, **kwargs):
            _, acti, grad = self.nn_module(x, class_idx=class_idx, retain_graph=retain_graph, **kwargs)
            a, g = acti[layer_idx].float(), grad[layer_idx].float()
            per_channel = (*g.shape[:2], *(1,) * (g.ndim - 2))
            denom = 2 * g.pow(2) + g.pow(3) * a.flatten(2).sum(-1).view(per_channel)
            alpha = g.pow(2) / torch.where(denom != 0, denom, torch.ones_like(denom))
            weights = (alpha * F.relu(g)).flatten(2).sum(-1).view(per_channel)
            return F.relu((weights * a).sum(1, keepdim=True))

    return GradCAMpp


def _split_items(run: RunModel, split: str, run_dir: str | os.PathLike | None) -> list[Item]:
    """The run's own ``split``, named by the source file of each image where the data have one (checked
    against the run's ``splits.csv`` when its folder is known)."""
    from medtrain.data import load_splits

    part = (run_splits(run_dir, run.cfg) if run_dir is not None else load_splits(run.cfg)).split(split)
    source = run.cfg.data or run.cfg.dataset or ""
    names = [str(n) for n in part.sources] if part.sources is not None else \
        [InputName(str(i), source, f"{split} split, image {i}") for i in range(len(part))]  # (titles, the index)
    return [Item(n, lambda i=i: part.images[i]) for i, n in enumerate(names)]


def explain(run_dir, inputs=(), method: str = "gradcam", target=None, layer: str | None = None,
            split: str = "test", limit: int | None = None, skip_bad: bool = False,
            out: str | os.PathLike | None = None) -> Explanation:
    """Saliency maps of a finished run for ``inputs`` (anything ``medtrain predict`` reads: files, folders,
    CSVs, a .npz split; uint8 arrays ``(C, *spatial)``, or a batch ``(N, C, *spatial)``), or, without
    inputs, for the run's own ``split``. Image files and PIL images of another bit depth than the run's training
    images are refused, as predict refuses them (:attr:`RunModel.image_depth`). Each map is of the network's plain
    forward pass: no test-time views, and dropout off (a run of ``--mc-dropout N`` too: its ``probs``, and the class explained, are the mean of the N
    passes, as predict's; ``Explanation.mc_dropout`` says N).

    Args:
        run_dir: a run directory (or a loaded :class:`~medtrain.runmodel.RunModel`).
        method: ``gradcam``, ``gradcam++`` or ``occlusion``. ``gradcam++`` warns (:class:`GradCAMppWarning`): its
            maps hardly change with the class or the trained weights; gradcam or occlusion tell classes apart.
        target: class name or index to explain; None: each input's predicted class (multi-label: the label of
            highest probability, even where none is above 0.5, i.e. predicted present).
        layer: the Grad-CAM layer (a module name of the network); None: :func:`default_layer`.
        limit: explain the first ``limit`` inputs only.
        out: a folder to write ``maps.npz``, one overlay PNG per input and ``explanations.csv`` (their index) into
            (:func:`write_explanation`).

    Raises:
        MedtrainError: not a run, an unreadable or unfit input (unless ``skip_bad``), an unknown target
            class or layer; nothing is written then.
    """
    run = run_dir if isinstance(run_dir, RunModel) else load_run_module(run_dir)
    if limit is not None and limit < 1:
        raise MedtrainError(f"--limit must be >= 1, got {limit}")
    class_index(target, run.label_names)  # an unknown class is refused before any input is read
    if layer:
        check_layer(run, layer)
    given = inputs is not None and (not hasattr(inputs, "__len__") or len(inputs))  # a Path or PIL image: no len
    if out is not None:  # not among the run's files or the inputs (the run's own data's when none is given)
        paths = ([inputs] if isinstance(inputs, (str, os.PathLike))
                 else list(inputs) if isinstance(inputs, (list, tuple)) else [])
        check_out(out, None if isinstance(run_dir, RunModel) else run_dir,
                  paths if given else [run.cfg.data] if run.cfg.data else [])
    if given:
        # what predict takes: paths, arrays, PIL images; files of another bit depth refused, as predict refuses them
        items = python_items(inputs, run, split=split)
    else:
        items = iter(_split_items(run, split, None if isinstance(run_dir, RunModel) else run_dir))
    if limit is not None:
        items = itertools.islice(items, limit)
    # volumes cut by the run's crop, or windowed without air, and inputs squashed to the model's square: one line each
    with notes_once(), squashes_once(run):
        res = _explain_items(run, items, method, target, layer, skip_bad, BATCH_SIZE)
    if not res.names:
        # with --skip-bad the reasons are said here: the caller's list of the skipped comes after a result, never
        first = f"; the first: {res.skipped[0].name}: {res.skipped[0].reason}" if res.skipped else ""
        raise MedtrainError("no input to explain" + (f" (all {len(res.skipped)} skipped{first})" if first else ""))
    _caveat(method, stacklevel=2)  # once the maps are made: a bad input stays the one line of its error
    if out is not None:
        write_explanation(res, out)
    return res
