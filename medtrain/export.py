"""``medtrain export``: a finished run as one ONNX or TorchScript file that needs neither medtrain nor
PyTorch's Python code around it.

The graph takes float32 images in [0, 1], ``(N, C, H, W)`` or ``(N, C, D, H, W)`` with the batch
dimension dynamic, and returns class probabilities (softmax, or sigmoid for multi-label runs): the
run's colour space, normalisation, test-time augmentation (its flipped and shifted views, averaged) and
calibration temperature (when the run fitted one) are inside it, so it equals ``medtrain predict`` and its
operating point's threshold applies to its output (without MC dropout: dropout is off, as in a plain forward
pass). The label
names and the preprocessing go into the file's metadata (ONNX ``metadata_props``; TorchScript
``_extra_files["medtrain.json"]``).

Every export is checked before it is kept: the written file runs (onnxruntime, or ``torch.jit.load``) on
a real batch of another batch size than the one it was traced with, against the PyTorch model; a
difference above :data:`TOLERANCE` is an error and nothing is written.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from medtrain import __version__
from medtrain._io import atomic_path
from medtrain.runmodel import RunModel, load_run_module
from medtrain.augment.tta import tta_predict
from medtrain.data import load_splits
from medtrain.data._quiet import said_when_trained
from medtrain._export_inputs import preprocessing
from medtrain.errors import MedtrainError
from medtrain.evaluation import temperature_scale
from medtrain.metrics import scores_from_logits
from medtrain.operating_point import from_meta, warn_fitted_with_tta
from medtrain.reuse import shown_path
from medtrain.rundir import run_tta
from medtrain.tasks import MULTILABEL
from medtrain.training.network import normalise

FORMATS = ("onnx", "torchscript")
TOLERANCE = 1e-4  #: largest accepted |exported - PyTorch| probability
CHECK_BATCH = 8  #: images in the check batch (the export itself is traced with 2)

#: Zoo networks torch.onnx.export (dynamo, then the TorchScript-based exporter) cannot turn into a graph
#: that onnxruntime runs within TOLERANCE, with the reason; measured with torch 2.14.1, onnxruntime 1.32.
#: (Every family's smallest network exports with the dynamo exporter: docs/results/export.md.)
UNEXPORTABLE: dict[str, str] = {}
#: Colour spaces whose conversion has no ONNX form (TorchScript export works for them).
UNEXPORTABLE_COLOR_SPACES: dict[str, str] = {
    "lch": "its chroma and hue use aten::hypot and atan2, which neither ONNX exporter of torch 2.14.1 converts",
}


class ProbabilityGraph(nn.Module):
    """[0, 1] float images -> class probabilities, through the run's own colour space, normalisation and
    network (:func:`medtrain.training.module.normalise`, as the Lightning module applies it), averaged over the
    run's test-time views (:func:`medtrain.augment.tta.tta_predict`), then its calibration temperature
    (:func:`medtrain.evaluation.temperature_scale`): the order ``predict`` applies them in. The views had been
    left out, so the file's output was not the probability the run's threshold was chosen on (6 of 156
    operating-point decisions differed from ``predict``'s for a BreastMNIST run with flip TTA)."""

    def __init__(self, run: RunModel):
        super().__init__()
        module = run.module
        self.model, self.input_transform, self.task = module.model, module.input_transform, run.meta["task"]
        self.tta = run_tta(run.cfg, run.meta)
        t = run.meta.get("temperature")
        self.temperature = float(t) if t is not None else None
        self.register_buffer("mean", module.mean.detach().clone())
        self.register_buffer("std", module.std.detach().clone())

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        return scores_from_logits(self.model(normalise(images, self.mean, self.std, self.input_transform)), self.task)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        p = self.probabilities(images) if self.tta == "none" else tta_predict(self.probabilities, images, self.tta)
        if self.temperature is not None:
            p = temperature_scale(p, self.task, self.temperature).to(p.dtype)
        return p


def metadata(run: RunModel, exporter: str, fitted_tta: str | None = None) -> dict[str, str]:
    """What the file says about itself (all values strings, JSON where structured: ONNX's metadata_props)."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in described(run, exporter, fitted_tta).items()}


def described(run: RunModel, exporter: str, fitted_tta: str | None = None) -> dict:
    """The file's description with structured values (TorchScript's ``medtrain.json`` holds it as one JSON
    object; its values had been JSON strings inside JSON).

    ``fitted_tta``: the test-time views the run's temperature and threshold were fitted on (default: the run's
    own, as its weights record them), which a graph exported without them (``--no-tta``) no longer computes: its
    file had said its threshold applied to "this output" (9 of 150 decisions at a run's operating point differ)."""
    meta, tta = run.meta, run_tta(run.cfg, run.meta)
    fitted = fitted_tta or _fitted_tta(run)
    t = meta.get("temperature")
    scaled = t is not None and float(t) != 1.0  # T = 1: kept at 1 on validation, the network's own probabilities
    calibration = (f", calibrated at temperature {float(t):.6g}" if scaled
                   else ", uncalibrated (temperature kept at 1)" if t is not None else "")
    op = from_meta(meta, run.label_names)
    per_label = op is not None and op.per_label  # a multi-label run's: one threshold per label
    fitted_here = [w for w, on in (("temperature", scaled),
                                   ("operating-point threshold" + "s" * per_label, op is not None)) if on]
    missing = "; ".join(m for m in (_views_missing(tta, fitted, fitted_here),
                                    _mc_missing(int(run.cfg.mc_dropout or 0), fitted_here)) if m)
    of = "each label" if per_label else "positive_class"
    applies_to = (f"the calibrated probability of {of} (this output)" if scaled else
                  f"the probability of {of} (this output; uncalibrated: temperature kept at 1)"
                  if t is not None else f"the probability of {of} (this output)")
    return {
        "medtrain_version": __version__, "exporter": exporter, "model": str(meta["model"]), "task": str(meta["task"]),
        "label_names": run.label_names,
        "input": f"float32 images in [0, 1], shape (N, {', '.join(_axes(run))})",
        "input_shape": list(run.input_shape),
        # the training images' bit depth (8-bit, more than 8 bits, mixed; None: not recorded), as predict holds
        # image files to it: an 8-bit run's export had prescribed stretching 16-bit images, which predict refuses
        "image_depth": run.image_depth,
        "output": "class probabilities (N, K), " + ("sigmoid per label" if meta["task"] == MULTILABEL else "softmax")
                  + (f", averaged over the test-time views '{tta}'" if tta != "none" else "") + calibration
                  + (f"; {missing}" if missing else ""),
        "temperature": t,
        "run_tta": fitted,
        "operating_point": None if op is None else {**(
            {"rule": op.rule, "thresholds": dict(zip(run.label_names, op.threshold)), "not_chosen": list(op.not_chosen),
             "decision": "a label is called where its probability >= its threshold"} if per_label else
            {"rule": op.rule, "threshold": op.threshold, "positive_class": run.label_names[op.positive]}),
            "applies_to": applies_to + (f"; but {missing}" if missing else "")},
        "preprocessing": preprocessing(run),
    }


def _fitted_tta(run: RunModel) -> str:
    """The views the run was evaluated (and its temperature and threshold fitted) with: those its weights record
    (``tta``, written at training: the chosen one when it was ``auto``), else its config's."""
    recorded = run.meta.get("tta")
    return recorded if recorded and recorded != "auto" else run_tta(run.cfg, run.meta)


def _differs(fitted_here: list[str], scored: str, fitted_on: str, graph: str) -> str:
    """The words a graph's metadata gives where the run scored otherwise than the graph does: the run's own scores
    ``scored``, and what of it was fitted (``fitted_here``: the temperature, the threshold(s)) on ``fitted_on``."""
    what = " and ".join(fitted_here)
    if not what:
        return f"the run's own scores {scored} and {graph}, so its output can differ from the run's"
    verb = "were" if len(fitted_here) > 1 or what.endswith("s") else "was"  # "thresholds" (one per label) are several
    return f"the run's {what} {verb} fitted on {fitted_on} and {graph}, so its output and decisions can differ from " \
           f"the run's"


def _views_missing(tta: str, fitted: str, fitted_here: list[str]) -> str:
    """What a graph with views ``tta`` lacks against the run's ``fitted`` ones, in words ('' when nothing)."""
    if tta == fitted or fitted == "none":
        return ""
    graph = "none" if tta == "none" else f"'{tta}' instead"
    return _differs(fitted_here, f"averaged its '{fitted}' views", f"its '{fitted}'-averaged views",
                    f"this graph has {graph}")


def _mc_missing(passes: int, fitted_here: list[str]) -> str:
    """What a graph lacks against a run that predicts with MC dropout (``passes`` > 0), in words ('' when nothing):
    its file had said its thresholds applied to "this output", fitted on the mean of the passes (85 of 160
    multi-label decisions differed from predict's)."""
    if not passes:
        return ""
    return _differs(fitted_here, f"are the mean of {passes} MC-dropout passes",
                    f"the mean of its {passes} MC-dropout passes", "this graph is one pass with dropout off")


def _axes(run: RunModel) -> list[str]:
    return [str(run.input_shape[0])] + [str(s) for s in run.input_shape[1:]]


def check_images(run: RunModel, run_dir: str | os.PathLike | None = None, n: int = CHECK_BATCH) -> tuple[torch.Tensor, str]:
    """The check batch in [0, 1]: the first ``n`` test images of the run's data when they can be read,
    else seeded random images of the run's shape. Returns the batch and where it came from."""
    if run_dir is not None:
        try:
            with said_when_trained():  # the run's own data: what the loaders say of it was said when it trained
                test = load_splits(run.cfg).test
            if len(test) and tuple(test.images.shape[1:]) == run.input_shape:
                return test.images[:n].float() / 255.0, f"the run's first {min(n, len(test))} test images"
        except (MedtrainError, OSError):
            pass
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, *run.input_shape), generator=g).float() / 255.0, f"{n} random images"


@contextlib.contextmanager
def _quiet():
    """The exporters print progress and emit tracer warnings; the command prints its own summary."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _require(name: str):
    """An optional dependency of ONNX export, or one line saying how to install it."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise MedtrainError(f"ONNX export needs {name}: pip install 'medtrain[export]' "
                            f"(onnx, onnxruntime, onnxscript)") from None


def _onnx_bytes(graph: nn.Module, example: torch.Tensor, exporter: str) -> bytes:
    if exporter == "dynamo":
        batch = torch.export.Dim("batch", min=1)
        prog = torch.onnx.export(graph, (example,), dynamo=True, input_names=["images"],
                                 output_names=["probabilities"], dynamic_shapes=({0: batch},), optimize=True,
                                 verbose=False)
        return prog.model_proto.SerializeToString()
    buf = io.BytesIO()
    torch.onnx.export(graph, (example,), buf, dynamo=False, input_names=["images"], output_names=["probabilities"],
                      dynamic_axes={"images": {0: "batch"}, "probabilities": {0: "batch"}}, opset_version=17)
    return buf.getvalue()


def _with_metadata(blob: bytes, props: dict) -> bytes:
    onnx = _require("onnx")

    proto = onnx.load_from_string(blob)
    onnx.helper.set_model_props(proto, props)
    return proto.SerializeToString()


def _onnx_diff(blob: bytes, x: torch.Tensor, expected: np.ndarray) -> float:
    ort = _require("onnxruntime")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, torch.get_num_threads())
    sess = ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    return float(np.abs(got - expected).max())


def export_model(run: RunModel, out: str | os.PathLike, fmt: str = "onnx", exporter: str = "dynamo",
                 run_dir: str | os.PathLike | None = None, fitted_tta: str | None = None) -> dict:
    """Export ``run`` to ``out`` and check it; returns ``{"path", "format", "exporter", "max_abs_diff",
    "check", "fallback"}`` (``fallback``: why the dynamo exporter was not used, or None). ``fitted_tta``: see
    :func:`described`.

    Raises:
        MedtrainError: an unknown format, a family that cannot be exported, or a file that disagrees
            with PyTorch by more than :data:`TOLERANCE` (nothing is written then).
    """
    if fmt not in FORMATS:
        raise MedtrainError(f"unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}")
    if exporter not in ("dynamo", "torchscript"):
        raise MedtrainError(f"unknown ONNX exporter '{exporter}'; choose dynamo or torchscript")
    space = run.cfg.color_space.lower()
    if fmt == "onnx" and space in UNEXPORTABLE_COLOR_SPACES:
        raise MedtrainError(f"a run in colour space {space} cannot be exported to ONNX: "
                            f"{UNEXPORTABLE_COLOR_SPACES[space]}; use --format torchscript")
    if run.meta["model"] in UNEXPORTABLE:
        raise MedtrainError(f"{run.meta['model']} cannot be exported: {UNEXPORTABLE[run.meta['model']]}")
    graph = ProbabilityGraph(run).eval()
    example = torch.rand(2, *run.input_shape, generator=torch.Generator().manual_seed(1))
    x, where = check_images(run, run_dir)
    with torch.no_grad():
        expected = graph(x).numpy()
    fallback = None
    with _quiet():
        if fmt == "torchscript":
            exporter = "torch.jit.trace"
            traced = torch.jit.trace(graph, example, check_trace=False)
            buf = io.BytesIO()
            torch.jit.save(traced, buf, _extra_files={"medtrain.json": json.dumps(described(run, exporter, fitted_tta))})
            blob = buf.getvalue()
            with torch.no_grad():
                got = torch.jit.load(io.BytesIO(blob)).eval()(x).numpy()
            diff = float(np.abs(got - expected).max())
        else:
            for name in ("onnx", "onnxruntime") + (("onnxscript",) if exporter == "dynamo" else ()):
                _require(name)
            try:
                blob = _onnx_bytes(graph, example, exporter)
                diff = _onnx_diff(blob, x, expected)
            except Exception as e:  # noqa: BLE001  (any exporter failure: try the other exporter, then report)
                if exporter != "dynamo":
                    raise MedtrainError(f"{run.meta['model']}: ONNX export failed ({type(e).__name__}: "
                                        f"{str(e).splitlines()[0][:200] if str(e) else ''})") from None
                fallback = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
                exporter = "torchscript"
                try:
                    blob = _onnx_bytes(graph, example, exporter)
                    diff = _onnx_diff(blob, x, expected)
                except Exception as e2:  # noqa: BLE001
                    raise MedtrainError(f"{run.meta['model']}: ONNX export failed with both exporters "
                                        f"(dynamo: {fallback}; torchscript: {type(e2).__name__})") from None
            blob = _with_metadata(blob, metadata(run, f"torch.onnx.export({exporter})", fitted_tta))
    if not diff <= TOLERANCE:
        raise MedtrainError(f"{run.meta['model']}: the exported {fmt} file differs from PyTorch by {diff:.2e} "
                            f"(> {TOLERANCE:g}) on {where}; nothing written")
    with atomic_path(out) as tmp:
        Path(tmp).write_bytes(blob)
    return {"path": str(out), "format": fmt, "exporter": exporter, "max_abs_diff": diff, "check": where,
            "fallback": fallback}


def export_run(run_dir: str | os.PathLike, fmt: str = "onnx", out: str | os.PathLike | None = None,
               exporter: str = "dynamo", tta: bool = True) -> dict:
    """Export a finished run (default file: ``RUN/model.onnx`` or ``RUN/model.pt``); see :func:`export_model`.
    ``tta=False`` leaves the run's test-time views out of the graph (:meth:`RunModel.without_tta`): where the run's
    operating point was chosen on TTA-averaged probabilities, the export gives one
    :class:`~medtrain.operating_point.OperatingPointWarning` (``medtrain: warning:`` in the CLI; ``export --no-tta``
    had said it in the file's metadata alone), worded for the graph it writes."""
    run = load_run_module(run_dir)
    fitted = run_tta(run.cfg, run.meta)  # what its temperature and threshold were fitted on, said in the file
    graph = run if tta else run.without_tta()
    out = Path(out) if out else Path(run_dir) / ("model.onnx" if fmt == "onnx" else "model.pt")
    res = {**export_model(graph, out, fmt, exporter, run_dir=run_dir, fitted_tta=fitted),
           "mc_dropout": graph.cfg.mc_dropout}
    if not tta:  # after the export: a failed one says its error alone
        # in export's words: a graph, not predictions
        warn_fitted_with_tta(run.meta, run.label_names, fitted, "export", shown_path(Path(run_dir).absolute()))
    return res


__all__ = ["FORMATS", "TOLERANCE", "UNEXPORTABLE", "UNEXPORTABLE_COLOR_SPACES", "ProbabilityGraph", "export_model", "export_run", "metadata"]
