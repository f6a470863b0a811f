"""Where a source model A comes from, and how its weights are fitted onto a target model B.

Three kinds of source, all given as ``--pretrained``:

* a medtrain run directory (``runs/A``): its ``model.safetensors`` and the JSON metadata in it
  (model, in_chans, num_classes, task, label_names, mean, std);
* a local weights file: safetensors, or a PyTorch checkpoint read with ``weights_only=True`` only
  (a pickle that needs code to load is refused, see :func:`medtrain.models.weights.load_state`);
* ImageNet weights from the hub, ``timm:NAME[.TAG]`` (timm's real download path, Hugging Face hub cache)
  or ``torchvision:NAME`` (torch hub cache). Offline without a cached file this is one clear error.

Fitting A onto B (:func:`adapt_state_dict`) changes four things and nothing else:

* the first convolution when the channel counts differ: an RGB kernel on a grey target is summed over
  its three input channels (a grey image replicated to RGB then gives exactly A's response), and a grey
  kernel on an RGB target is repeated and divided by 3 (B's response to an RGB image is A's response to
  its channel mean) — the usual adaptation (timm's ``adapt_input_conv``);
* 2D kernels of a 2D source on a 3D target (a 2D network inflated for volumes): each ``(O, C, k, k)``
  kernel becomes ``(O, C, t, k, k)``, repeated along depth and divided by ``t`` (I3D, Carreira &
  Zisserman, CVPR 2017), so B's response to a depth-constant volume is A's response to the image;
* a ViT's position embedding trained at another input size: resampled to B's patch grid (timm's
  ``resample_abs_pos_embed``, the class token kept; :mod:`medtrain.models._pos_embed`), said in one line;
* the classifier: always a new, randomly initialised head, since the target's classes are new
  (Yosinski et al., "How transferable are features in deep neural networks?", NeurIPS 2014).

A zoo network's stem from the other side of 64 px (medtrain's small-input 3x3 stem against the standard one: the
same network trained at another input size) is refused naming that. Any other shape mismatch means A and B are
different architectures: an error naming A's model.
"""
from __future__ import annotations

import os
import shlex
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from torch import Tensor, nn

from medtrain._io import (CHECKPOINT_DIR, CONFIG_FILE, FEATURES_FILE, METRICS_FILE, WEIGHTS_FILE, is_finished,
                          read_metrics)
from medtrain._yaml import read_yaml_file
from medtrain.errors import MedtrainError
from medtrain.models._hub_offline import hub_cache_only_when_unreachable
from medtrain.models._pos_embed import PositionEmbeddingResampledWarning, resample_pos_embed, stem_error

__all__ = ["Source", "load_source", "adapt_in_chans", "adapt_state_dict", "first_conv_name", "classifier_prefix",
           "source_model"]

HUB_PREFIXES = ("timm:", "torchvision:", "medicalnet:")


@dataclass
class Source:
    """Weights of a source model A and what is known about them.

    Attributes:
        state: A's state dict (CPU tensors).
        meta: A's metadata; ``model``, ``in_chans``, ``num_classes``, ``mean``, ``std`` when known.
        origin: where the weights came from, e.g. ``run runs/A`` or ``timm:resnet18.a1_in1k``.
        run_dir: A's run directory when the source is one (its config names A's dataset).
        record: what identifies the weights, recorded by a run that transfers them (``metrics.json["transfer"]``):
            ``file`` read and its ``sha256`` (a run's ``model.safetensors``, a weights file, a MedicalNet ``.pth``);
            for a run, the ``dataset`` and ``data`` it trained on, its ``seed``, and the ``medtrain`` version (and
            ``commit``) that trained it, as its ``config.yaml``, ``metrics.json`` and weights' metadata say. A
            key is absent where it is not known (a hub source: its name is its identity).
    """

    state: dict
    meta: dict = field(default_factory=dict)
    origin: str = ""
    run_dir: Path | None = None
    record: dict = field(default_factory=dict)

    @property
    def model(self) -> str | None:
        return self.meta.get("model")


def load_source(spec: str | os.PathLike, *, pretrained_cfg_overlay: dict | None = None,
                data_dir: str | os.PathLike | None = None) -> Source:
    """Read source weights from a run directory, a weights file or the hub.

    Args:
        spec: ``runs/A``, ``path/w.safetensors``, ``path/w.pt``, ``timm:NAME[.TAG]``, ``torchvision:NAME`` or
            ``medicalnet:DEPTH``.
        pretrained_cfg_overlay: for ``timm:`` sources, passed to ``timm.create_model`` (e.g.
            ``dict(file="w.safetensors")`` loads a local copy through timm's own pretrained path).
        data_dir: the cache folder (a run's ``--data-dir``; None: the default) whose ``weights/`` holds, or is
            downloaded, a ``medicalnet:`` source, as every download honours it.

    Raises:
        MedtrainError: the source does not exist, is not weights-only, or the hub is unreachable.
    """
    from medtrain.models.weights import read_weights

    text = str(spec)
    if text.startswith(HUB_PREFIXES):
        return _hub_source(text, pretrained_cfg_overlay, data_dir)
    check_source_path(text)
    p = Path(text)
    if p.is_dir():
        w = p / WEIGHTS_FILE
        state, meta, sha = read_weights(w)  # read once: the hash recorded is that of the bytes loaded
        state, origin = _one_member(state, _members_val_auc(p), f"run {p}")
        return Source(state, meta, origin, p, {**_file_record(w, sha), **_run_record(p, meta)})
    state, meta, sha = read_weights(p)
    state, origin = _one_member(state, None, f"file {p}")
    version = {"medtrain": meta["medtrain_version"]} if meta.get("medtrain_version") else {}
    return Source(state, meta, origin, record={**_file_record(p, sha), **version})


def check_source_path(spec: str | os.PathLike) -> None:
    """The refusals of :func:`load_source` that read no weights: a path that is neither a run directory, a weights
    file nor a hub name; a folder without weights; a run stopped before it finished. ``train`` makes them before it
    reads its data (a refused source had come after the run's first line, which named a run never made: a walk)."""
    text = str(spec)
    if text.startswith(HUB_PREFIXES):
        return
    p = Path(text)
    if p.is_dir():
        if not (p / WEIGHTS_FILE).is_file():
            raise MedtrainError(f"pretrained: {p} is not a finished medtrain run (no {WEIGHTS_FILE})")
        # stopped after its weights were written (its checkpoints or a probe's cached codes are still there), as
        # eval and predict refuse it; without them a model handed on alone (weights and config), which serves
        interrupted = any((p / CHECKPOINT_DIR).glob("*.ckpt")) or (p / FEATURES_FILE).is_file()
        if not is_finished(p) and interrupted:
            raise MedtrainError(f"pretrained: {p} did not finish (no {METRICS_FILE}); finish it with "
                                f"`medtrain train --resume {shlex.quote(str(p))}`")
    elif not p.is_file():
        raise MedtrainError(f"pretrained: {text} is neither a run directory, a weights file nor "
                            "timm:NAME / torchvision:NAME / medicalnet:DEPTH")


def _file_record(path: Path, sha256: str) -> dict:
    """The weights file read and the SHA-256 of the bytes its weights were loaded from
    (:func:`medtrain.models.weights.read_weights`: what tells, later, whether a file at that path is the same one)."""
    return {"file": str(path), "sha256": sha256}


def _run_record(run_dir: Path, meta: dict) -> dict:
    """What a source run says of itself (:attr:`Source.record`): the data it trained on, its seed, the medtrain that
    trained it, the colour space of its inputs; from its ``metrics.json`` (a finished run), else its ``config.yaml`` and the weights' metadata (a
    model handed on alone). Unreadable or absent files leave their keys out: the weights are read anyway."""
    metrics = read_metrics(run_dir) if is_finished(run_dir) else {}
    try:
        cfg = read_yaml_file(run_dir / CONFIG_FILE, "run config") if (run_dir / CONFIG_FILE).is_file() else {}
    except MedtrainError:
        cfg = {}
    cfg = cfg if isinstance(cfg, dict) else {}
    prov = metrics.get("provenance") or {}
    git = prov.get("medtrain_git") or {}
    out = {"dataset": metrics.get("dataset") or cfg.get("dataset"),
           "data": (metrics.get("data") or {}).get("source") or cfg.get("data"),
           "seed": metrics.get("seed", cfg.get("seed")),
           "medtrain": prov.get("medtrain") or meta.get("medtrain_version"),
           "commit": git.get("commit") if isinstance(git, dict) else None,
           "color_space": cfg.get("color_space")}  # the inputs its network learned from (rgb, hsv, lab, ...)
    return {k: v for k, v in out.items() if v is not None}


def _members_val_auc(run_dir: Path) -> list | None:
    """The validation AUC of each member of an ensemble run, from its ``metrics.json`` (None when absent: a model
    handed on alone, or no ensemble); a damaged ``metrics.json`` is one line (:func:`medtrain._io.read_metrics`)."""
    if not is_finished(run_dir):
        return None
    members = read_metrics(run_dir).get("members_val_auc")
    return members.get("members") if isinstance(members, dict) else None


def _one_member(state: dict, val_auc: list | None, origin: str) -> tuple[dict, str]:
    """An ensemble's weights (``models.ensemble.Ensemble``: ``members.I.*``) as one network's: the member with
    the best validation AUC when the run recorded them, else the first. Transfer takes one network's features;
    any other state is returned as it is."""
    if any(k.startswith("linear.") for k in state) and all(k.startswith(("model.", "linear.")) for k in state):
        # a linear-probe run: the network it probed under model., its linear layer under linear. (as a source it
        # was 'a different architecture', and advise measured a randomly initialised network; a user walkthrough)
        return {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}, \
            f"{origin} (the network a linear probe was fitted on)"
    members = sorted({int(k.split(".")[1]) for k in state if k.startswith("members.")})
    if not members:
        return _backbone_of(state), origin
    best = max(members, key=lambda i: val_auc[i]) if val_auc and len(val_auc) == len(members) else members[0]
    prefix = f"members.{best}."
    one = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return _backbone_of(one), f"{origin} (member {best} of an ensemble of {len(members)})"


def _backbone_of(state: dict) -> dict:
    """A network with a custom head (``models.heads.WithHead``: ``backbone.*`` + ``head.*``, what a run with
    ``--head``/``--dropout-kind``/MC dropout saves) as its backbone's own keys: transfer takes the backbone, the
    head is always new (as a source it was 'a different architecture'; a user walkthrough). Else unchanged."""
    if any(k.startswith("backbone.") for k in state) and all(k.startswith(("backbone.", "head.")) for k in state):
        return {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    return state


def _hub_source(text: str, overlay: dict | None, data_dir: str | os.PathLike | None = None) -> Source:
    kind, name = text.split(":", 1)
    try:
        if kind == "timm":
            import timm

            kwargs = {"pretrained_cfg_overlay": overlay} if overlay else {}
            with hub_cache_only_when_unreachable():
                model = timm.create_model(name, pretrained=True, **kwargs)
            cfg = getattr(model, "pretrained_cfg", {}) or {}
            meta = {"model": name.split(".")[0], "in_chans": 3, "num_classes": getattr(model, "num_classes", None),
                    "mean": list(cfg.get("mean", ())), "std": list(cfg.get("std", ()))}
        elif kind == "medicalnet":  # Med3D's 3D ResNets (Chen et al. 2019), MONAI-named, single-channel
            from medtrain.models.med3d import DEPTHS, download_medicalnet
            from medtrain.models.weights import read_weights

            if not name.isdigit() or int(name) not in DEPTHS:
                raise MedtrainError(f"pretrained: medicalnet:DEPTH takes a depth in {', '.join(map(str, DEPTHS))}, "
                                    f"got {name!r}")
            path = download_medicalnet(int(name), data_dir=data_dir)  # cached, or downloaded; offline: one line
            state, _, sha = read_weights(path)
            return Source(state, {"model": f"med3d_resnet{name}", "in_chans": 1}, text,
                          record=_file_record(path, sha))
        else:
            import torchvision

            model = torchvision.models.get_model(name, weights="DEFAULT")
            meta = {"model": name, "in_chans": 3}
    except (RuntimeError, OSError, ValueError, ImportError) as e:
        # huggingface_hub/urllib raise OSError subclasses offline; timm wraps some in RuntimeError.
        # The message is kept to one line: the cause's type is enough to tell offline from a bad name.
        raise MedtrainError(
            f"pretrained: cannot load {text} ({type(e).__name__}): no network and no cached copy in the "
            f"hub cache; download it once online, or pass a local file with --pretrained PATH") from None
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return Source(state, meta, text)


def source_model(src: Source) -> nn.Module:
    """Rebuild A itself (its own channels and classes) with its weights, e.g. to compute its features."""
    from medtrain.models import create_model

    if not src.model:
        raise MedtrainError(f"{src.origin}: the weights do not say which model they belong to (no metadata)")
    in_chans = int(src.meta.get("in_chans") or 3)
    num_classes = int(src.meta.get("num_classes") or 2)
    # The input size A was built for: zoo families adapt their stem to small images (a 28-px resnet18 has a
    # 3x3/1 stem), so A rebuilt without it would not fit its own weights. Weights written before the size
    # was recorded: the stock stem, else the small-image one.
    size = src.meta.get("input_size")
    state = _drop_extra(src.state)
    for input_size in ([int(size)] if size else [None, 28]):
        model = create_model(src.model, in_chans=in_chans, num_classes=num_classes, input_size=input_size)
        try:
            missing = model.load_state_dict(state, strict=False).missing_keys
        except RuntimeError:
            continue
        if not any(k.endswith(("weight", "bias")) for k in missing if not k.startswith(_HEADS)):
            break  # every feature weight loaded (a head of another shape may be missing)
    else:
        raise MedtrainError(f"{src.origin}: the weights do not fit a rebuilt {src.model} "
                            f"({in_chans} channels, {num_classes} classes)")
    return model.eval()


_HEADS = ("fc.", "classifier.", "head.", "last_linear.")  #: classifier names a rebuilt source may lack


def _drop_extra(state: dict) -> dict:
    return {k: v for k, v in state.items() if not k.endswith("_extra_state")}


def first_conv_name(model: nn.Module) -> str:
    """Qualified name of the model's first convolution (the one that sees the image channels)."""
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            return name
    raise MedtrainError(f"{type(model).__name__} has no convolution to adapt")


def classifier_prefix(model: nn.Module) -> str:
    """Qualified name of the classifier module (``fc``, ``head``...), whose weights are never copied."""
    clf = model.get_classifier() if hasattr(model, "get_classifier") else None
    if clf is not None:
        for name, m in model.named_modules():
            if m is clf and name:
                return name
    for name in ("fc", "classifier", "head"):
        if isinstance(getattr(model, name, None), nn.Module):
            return name
    raise MedtrainError(f"{type(model).__name__}: cannot find its classifier (no get_classifier)")


def adapt_in_chans(weight: Tensor, in_chans: int) -> Tensor:
    """Fit a first-layer kernel ``(O, C, k, k)`` to ``in_chans`` input channels.

    RGB -> grey sums the kernels over channels; grey -> C channels repeats the kernel and divides by C.
    Both keep the layer's response: to a grey image replicated C times, resp. to an image's channel mean.
    """
    c = weight.shape[1]
    if c == in_chans:
        return weight
    if in_chans == 1:
        return weight.sum(dim=1, keepdim=True)
    if c == 1:
        reps = [1, in_chans] + [1] * (weight.ndim - 2)
        return weight.repeat(*reps) / in_chans
    raise MedtrainError(f"cannot adapt a {c}-channel first convolution to {in_chans} channels (only 1 <-> C)")


def adapt_state_dict(state: dict, model: nn.Module) -> tuple[dict, dict]:
    """A's state dict made loadable into ``model`` (B): first convolution adapted, classifier dropped.

    Returns:
        ``(state, info)``: the adapted state (classifier keys removed) and a record of what changed:
        ``first_conv`` (``"1->3 (repeat/3)"``, ``"3->1 (sum)"`` or ``"kept"``), ``head``, and ``pos_embed`` where
        a ViT's position embedding was resampled to B's patch grid (``"14x14 -> 4x4 patches (224x224 -> 64x64 px),
        ..."``; said as a :class:`~medtrain.models._pos_embed.PositionEmbeddingResampledWarning`).

    Raises:
        MedtrainError: a key of B is missing from A, a tensor of A (its classifier aside) has no place in B (A's
        batch norms in a B built without: the stages said copied would compute something else), or a shape
        differs beyond the first convolution; a zoo network's stem of the other side of 64 px (the same network
        trained at another size) is refused as that.
    """
    target = model.state_dict()
    conv_key = first_conv_name(model) + ".weight"
    head = classifier_prefix(model)
    out, info = {}, {"first_conv": "kept", "head": f"new {head} (random init, {_out_dim(target, head)} outputs)"}
    # a target with a custom head (models.heads.WithHead) names its network's weights backbone.*; a source is
    # read as a plain network's keys (_backbone_of), so they are looked up without that prefix
    inner = "backbone." if isinstance(getattr(model, "backbone", None), nn.Module) and head == "head" else ""
    missing, stem, used = [], None, set()
    # a DeiT's get_classifier() is (head, head_dist): its distillation head is new too (it had failed as a shape)
    clf = model.get_classifier() if hasattr(model, "get_classifier") else None
    heads = [head] + [n for n, m in model.named_modules() if n and isinstance(clf, tuple) and any(m is c for c in clf)]
    for k, v in target.items():
        if k.endswith("_extra_state"):
            continue
        if any(k == h or k.startswith(h + ".") for h in heads):
            continue
        key = k[len(inner):] if inner and k.startswith(inner) and k not in state else k
        if key not in state:
            missing.append(k)
            continue
        w = state[key]
        used.add(key)
        if k == conv_key and w.shape[1] != v.shape[1]:
            how = "sum" if v.shape[1] == 1 else f"repeat/{v.shape[1]}"
            info["first_conv"] = f"{w.shape[1]}->{v.shape[1]} ({how})"
            w = adapt_in_chans(w, v.shape[1])
        if w.ndim == 4 and v.ndim == 5 and w.shape == v.shape[:2] + v.shape[3:]:
            t = v.shape[2]  # I3D: the 2D kernel repeated over depth t, divided by t
            w = w.unsqueeze(2).repeat(1, 1, t, 1, 1) / t
            info["inflated"] = info.get("inflated", 0) + 1
        if w.shape != v.shape and k == conv_key:
            stem = stem_error(model, k, w.shape, v.shape)  # raised if the rest fits: the same network, another size
            if stem is not None:
                continue
        resampled = resample_pos_embed(model, k, w, v) if w.shape != v.shape else None
        if resampled is not None:  # a ViT at another input size: its grid's position embedding
            w, info["pos_embed"] = resampled
        if w.shape != v.shape:
            raise MedtrainError(f"pretrained: {k} has shape {tuple(w.shape)} in the source, {tuple(v.shape)} in the "
                                f"target model; the source is a different architecture")
        out[k] = w.to(v.dtype)
    if missing:  # (the batch norms of a target with them, of a source trained with --no-batch-norm: said so)
        mods = dict(model.named_modules())
        bn = all(isinstance(mods.get(k.rsplit(".", 1)[0]), nn.modules.batchnorm._BatchNorm) for k in missing)
        raise MedtrainError(f"pretrained: the source lacks {len(missing)} weights of the target model "
                            f"({', '.join(missing[:2])} ...); " + ("they are its batch norms, and the source was "
                            "trained without batch norm: add --no-batch-norm" if bn else _OTHER))
    # what of the source the target has no place for (its classifier aside): dropped, the stages said copied would
    # compute something else (a source's batch norms under --no-batch-norm had gone without a word)
    own_heads = _HEADS + ("conv_seg.",) + tuple(h + "." for h in heads)  # (MedicalNet's segmentation head)
    left = [k for k in state if k not in used and not k.startswith(own_heads) and not k.endswith("_extra_state")]
    if stem is not None:  # the same network but for its stem; a source with more weights (deeper) is another one
        if left:
            raise MedtrainError(f"pretrained: {conv_key} has shape {stem.shapes[0]} in the source, {stem.shapes[1]} "
                                f"in the target model; {_OTHER}")
        raise stem
    if left:
        norms = {k.rsplit(".", 1)[0] for k in state if k.endswith(".running_mean")}
        bn = all(k.rsplit(".", 1)[0] in norms for k in left)
        raise MedtrainError(f"pretrained: the target model has no place for {len(left)} tensors of the source "
                            f"({', '.join(sorted(left)[:2])} ...); " + ("they are its batch norms, and the target has none "
                            "(--no-batch-norm): without them the copied stages would compute something else; drop "
                            "--no-batch-norm, or train the source without batch norm" if bn else _OTHER))
    if "pos_embed" in info:
        warnings.warn(PositionEmbeddingResampledWarning(f"pretrained: the source's position embedding resampled "
                                                        f"to the target's patch grid, {info['pos_embed']}"),
                      stacklevel=2)
    return out, info


_OTHER = "the source is a different architecture"


def _out_dim(state: dict, head: str) -> int | str:
    ws = [v for k, v in state.items() if k.startswith(head + ".") and k.endswith("weight") and v.ndim == 2]
    return ws[-1].shape[0] if ws else "?"
