"""Which transfer strategy a target dataset calls for: its size and its similarity to the source.

The lecture's table (CS231n "Transfer learning"; Yosinski et al., NeurIPS 2014):

============  ==========================================  ==============================================
              similar to the source data                  different from the source data
============  ==========================================  ==============================================
small target  linear classifier on the CNN codes          linear classifier on an earlier stage's codes
              (``linear-probe``)                          (``linear-probe --probe-layer <stage>``)
large target  fine-tune (``finetune``)                    train from scratch initialised from A
                                                          (``finetune``: every layer trained; ``scratch``
                                                          as the control)
============  ==========================================  ==============================================

Size is the number of training images per class (mean over classes; the smallest class is reported
too). "Small" is below ``small_per_class`` (default 1000): a heuristic, which ``--verify`` checks.

Similarity is measured in the source model's own pooled feature space (what transfer reuses), on up to
``max_images`` training images of each dataset, the target's channels fitted to the source's the way
the weights would be (RGB -> grey: channel mean; grey -> RGB: replicate), both normalised with the
source's statistics:

* **domain-classifier accuracy** (the decision criterion): a logistic regression is trained to tell
  source from target features, 5-fold cross-validated on a balanced sample. 0.5 means the source
  model cannot tell the datasets apart; 1.0 means they are linearly separable. It is reported with the
  proxy A-distance ``d_A = 2 (1 - 2 err)`` (Ben-David et al., "Analysis of representations for domain
  adaptation", NIPS 2007), which runs from 0 (same distribution) to 2. "Similar" is ``acc < 0.75``,
  i.e. ``d_A < 1``: the midpoint of the scale, where the classifier still mistakes a quarter of the
  images for the other dataset.
* **Fréchet distance** between Gaussians fitted to the two feature sets (the FID formula of Heusel et
  al., NeurIPS 2017, in A's feature space instead of Inception's), with two references that give it a
  scale: the *floor*, the distance between two disjoint halves of the source sample (sampling noise
  only), and the *relative* distance ``FD / (tr S_s + tr S_t)``, 0 for identical statistics and about 1
  when the means agree but the covariances share nothing. FD is unbounded and depends on the feature
  width, which is why the decision uses the classifier's accuracy.
"""
from __future__ import annotations

import os
import shlex
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from medtrain import config as config_mod
from medtrain import rundir
from medtrain._progress import Overall
from medtrain._io import why_not_read
from medtrain.api import train_or_reuse
from medtrain.data import load_splits
from medtrain.data.medmnist import names as medmnist_names
from medtrain.errors import MedtrainError
from medtrain.models.pretrained import load_source, source_model
from medtrain.models.stages import stage_names
from medtrain.training.probe import pooled_features

__all__ = ["Advice", "advise", "frechet_distance", "domain_accuracy", "verify"]

SIMILAR_BELOW = 0.75
SMALL_PER_CLASS = 1000


@dataclass
class Advice:
    """Measurements and the recommendation; :meth:`report` explains them."""

    source: str
    target: str
    n_train: int
    num_classes: int
    per_class: float
    min_per_class: int
    size: str  #: "small" or "large"
    domain_acc: float
    proxy_a_distance: float
    fd: float
    fd_floor: float
    fd_relative: float
    similarity: str  #: "similar" or "different"
    quadrant: str
    recommend: dict  #: settings of the recommended run, e.g. {"transfer": "linear-probe", "probe_layer": "layer3"}
    alternatives: list = field(default_factory=list)  #: other settings --verify runs
    n_images: int = 0
    thresholds: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {**asdict(self), "command": self.command}

    @property
    def command(self) -> str:
        """The recommended run as a command line, on the target (it trained the default dataset without it)."""
        data = f"--data {shlex.quote(str(self.target))}" if Path(self.target).suffix or Path(self.target).exists() \
            else f"--dataset {self.target}"
        rec = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in self.recommend.items())
        return f"medtrain train {data} --pretrained {shlex.quote(str(self.source))} {rec}"

    def report(self) -> str:
        t = self.thresholds
        return "\n".join([
            f"source {self.source} -> target {self.target}",
            f"size: {self.n_train} training images, {self.num_classes} classes = {self.per_class:.0f} per class "
            f"(smallest {self.min_per_class}) -> {self.size.upper()} (small: < {t.get('small_per_class')} per class)",
            f"similarity in the source model's features ({self.n_images} images each):",
            f"  domain classifier accuracy {self.domain_acc:.3f} (0.5 = indistinguishable, 1.0 = separable; "
            f"proxy A-distance {self.proxy_a_distance:.2f} of 2) -> {self.similarity.upper()} "
            f"(similar: < {t.get('similar_below')})",
            f"  Frechet distance {self.fd:.3g} (floor, source half vs half: {self.fd_floor:.3g}; "
            f"relative {self.fd_relative:.2f}, 0 = same statistics)",
            f"quadrant: {self.quadrant}",
            f"recommendation: {self.command}",
        ])


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` ``(N, F)`` and ``b`` ``(M, F)``:
    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``."""
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # rank-deficient covariances (fewer images than features) are expected
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():  # regularise as the FID reference code does
            eps = np.eye(len(s1)) * 1e-6
            covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = covmean.real
    return float(max(0.0, ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)))


def domain_accuracy(a: np.ndarray, b: np.ndarray, seed: int = 0, folds: int = 5) -> float:
    """Cross-validated accuracy of a logistic regression telling ``a`` from ``b`` (balanced sample)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n = min(len(a), len(b))
    X = np.concatenate([a[:n], b[:n]])
    y = np.r_[np.zeros(n), np.ones(n)]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    cv = StratifiedKFold(n_splits=min(folds, n), shuffle=True, random_state=seed)
    return float(cross_val_score(clf, X, y, cv=cv).mean())


def _fit_images(images: torch.Tensor, in_chans: int, size: tuple) -> torch.Tensor:
    """Target images as the source model sees them: its channel count and spatial size (uint8)."""
    x = images.float()
    if x.shape[1] != in_chans:
        # the same maps the adapted first convolution computes: RGB -> mean, grey -> replicate
        x = x.mean(1, keepdim=True) if in_chans == 1 else x.repeat(1, in_chans, *([1] * (x.ndim - 2)))
    if tuple(x.shape[2:]) != tuple(size):
        # (trilinear for volumes: bilinear had raised NotImplementedError on a 3D source and target of other sizes)
        x = F.interpolate(x, size=tuple(size), mode="trilinear" if x.ndim == 5 else "bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)


def _sample(images: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(images), generator=g)[:n]
    return images[idx]


def _target_splits(target: str, size: int):
    """The target as the user's own settings find it (``$MEDTRAIN_DATA``, the cache: not the source run's
    recorded folder, another machine's perhaps), a MedMNIST set at the source's image size; a path that is not
    there is said to be one, not taken for an unknown dataset name."""
    if Path(target).exists():
        return load_splits(config_mod.resolve({"data": str(target)}))
    if target not in medmnist_names() and (Path(target).suffix or os.sep in target or "/" in target):
        raise MedtrainError(f"--target {target}: {why_not_read(target)}")
    return load_splits(config_mod.resolve({"dataset": target, "size": size}))


def advise(source: str | Path, target: str, *, max_images: int = 1000, small_per_class: int = SMALL_PER_CLASS,
           similar_below: float = SIMILAR_BELOW, seed: int = 0) -> Advice:
    """Measure the target's size and similarity to the source run's data; recommend a strategy.

    Args:
        source: a medtrain run directory (its ``config.yaml`` names the source dataset).
        target: a MedMNIST dataset name or a local data path (``.npz``, folder, CSV).
        max_images: training images drawn from each dataset for the similarity measures.
        small_per_class: below this many training images per class the target is "small".
        similar_below: domain-classifier accuracy below which the datasets count as "similar".
        seed: sampling seed.
    """
    if not rundir.is_run(source):
        raise MedtrainError(f"advise needs a medtrain run directory as --source (its data are the source images), "
                            f"got {source}")
    src = load_source(source)
    scfg = rundir.load_config(src.run_dir)
    # read as eval reads a run's data: moved data named in one line, a MedMNIST file found where $MEDTRAIN_DATA
    # points when the recorded folder is gone, and the split the run trained on
    s_splits = rundir.run_splits(src.run_dir, scfg)
    t_splits = _target_splits(target, scfg.size)
    dims = {name: len(sp.spatial_shape) for name, sp in (("source", s_splits), ("target", t_splits))}
    if dims["source"] != dims["target"]:  # no common feature space to compare the two sets' images in
        kind = {2: "2D images", 3: "3D volumes"}
        hint = ("; a 2D run can still start a 3D one: `medtrain train --pretrained SOURCE` inflates its kernels "
                "(I3D), and `medtrain compare --vary transfer=...` measures the strategies" if dims["source"] == 2 else
                "; a 3D network cannot start a 2D one")
        raise MedtrainError(f"advise measures the target in the source network's features: the source run was "
                            f"trained on {kind[dims['source']]}, the target {target} holds {kind[dims['target']]}"
                            + hint)
    model = source_model(src)
    mean = torch.tensor(src.meta.get("mean") or [0.5] * model_in_chans(src), dtype=torch.float32)
    std = torch.tensor(src.meta.get("std") or [0.25] * model_in_chans(src), dtype=torch.float32)
    in_chans = model_in_chans(src)
    size = tuple(s_splits.spatial_shape)

    # Equal sample sizes everywhere: FD is biased upwards on small samples, so the floor (two disjoint
    # source samples) and the source-target distance must use the same n to be comparable.
    n = max(2, min(max_images, len(s_splits.train) // 2, len(t_splits.train)))
    s_img = _sample(_fit_images(s_splits.train.images, in_chans, size), 2 * n, seed)
    t_img = _sample(_fit_images(t_splits.train.images, in_chans, size), n, seed + 1)
    fs = pooled_features(model, s_img, mean, std)
    ft = pooled_features(model, t_img, mean, std)
    acc = domain_accuracy(fs[:n], ft, seed)
    fd = frechet_distance(fs[:n], ft)
    floor = frechet_distance(fs[:n], fs[n:2 * n]) if len(fs) >= 2 * n else float("nan")
    rel = fd / max(np.trace(np.cov(fs[:n], rowvar=False)) + np.trace(np.cov(ft, rowvar=False)), 1e-12)

    labels = t_splits.train.labels
    counts = labels.sum(0) if labels.ndim == 2 else torch.bincount(labels, minlength=t_splits.num_classes)
    per_class = len(t_splits.train) / t_splits.num_classes
    # proxy A-distance 2(1 - 2 err), err = 1 - acc; below chance (acc < 0.5) it is 0
    small = per_class < small_per_class
    similar = acc < similar_below
    names = stage_names(model)
    earlier = names[-2] if len(names) >= 2 else names[-1]
    if small and similar:
        quadrant = "small & similar: a linear classifier on the CNN codes of the last stage"
        rec = {"transfer": "linear-probe"}
        alts = [{"transfer": "linear-probe", "probe_layer": earlier}, {"transfer": "finetune"}, {"transfer": "scratch"}]
    elif small:
        quadrant = (f"small & different: a linear classifier on an earlier stage's codes ({earlier}), the more "
                    "general features (Yosinski et al. 2014)")
        rec = {"transfer": "linear-probe", "probe_layer": earlier}
        alts = [{"transfer": "linear-probe"}, {"transfer": "finetune"}, {"transfer": "scratch"}]
    elif similar:
        quadrant = "large & similar: fine-tune the whole network from A"
        rec = {"transfer": "finetune"}
        alts = [{"transfer": "finetune-top:1"}, {"transfer": "linear-probe"}, {"transfer": "scratch"}]
    else:
        quadrant = ("large & different: train from scratch, initialised from A (fine-tune every layer); "
                    "compare with plain scratch")
        rec = {"transfer": "finetune"}
        alts = [{"transfer": "scratch"}, {"transfer": "partial:2"}, {"transfer": "linear-probe"}]
    return Advice(
        source=str(source), target=str(target), n_train=len(t_splits.train), num_classes=t_splits.num_classes,
        per_class=float(per_class), min_per_class=int(counts.min()), size="small" if small else "large",
        domain_acc=acc, proxy_a_distance=max(0.0, 2 * (2 * acc - 1)), fd=fd, fd_floor=floor, fd_relative=float(rel),
        similarity="similar" if similar else "different", quadrant=quadrant, recommend=rec, alternatives=alts,
        n_images=n, thresholds={"small_per_class": small_per_class, "similar_below": similar_below},
    )


def model_in_chans(src) -> int:
    return int(src.meta.get("in_chans") or 3)


def verify(advice: Advice, out: str | Path, epochs: int = 3, seed: int = 0, base: dict | None = None,
           verbose: bool = True) -> list[dict]:
    """Run the recommendation and its alternatives for ``epochs`` epochs each; return the table rows.

    Every candidate is a normal run directory under ``out``; finished ones are reused. The rows say
    validation and test AUC/ACC: choose on validation, the test column is for reporting.
    """
    src = load_source(advice.source)
    target = advice.target
    settings = dict(base or {})
    settings.update({"model": src.model, "pretrained": advice.source, "epochs": epochs, "seed": seed,
                     "progress": False})
    settings.update({"data": target, "dataset": None} if Path(target).exists() else {"dataset": target})
    rows = []
    cands = [advice.recommend] + list(advice.alternatives)
    names = [",".join(f"{k}={v}" for k, v in cand.items()) for cand in cands]
    dirs = [Path(out) / name.replace(":", "_") for name in names]
    with Overall(len(cands), "advise --verify", done=sum(map(rundir.is_finished, dirs)), enabled=verbose) as bar:
        for i, (cand, name, run_dir) in enumerate(zip(cands, names, dirs)):
            reused = rundir.is_finished(run_dir)
            m = train_or_reuse({**settings, **cand, "out": str(run_dir)})
            rows.append({"candidate": name, "recommended": i == 0, "val_auc": m["val"]["auc"],
                         "val_acc": m["val"]["acc"], "test_auc": m["test"]["auc"], "test_acc": m["test"]["acc"],
                         "wall_s": m["wall_s"]})
            if not reused:
                bar.advance()
    if verbose:
        print(verify_table(rows, epochs))
    return rows


def verify_table(rows: list[dict], epochs: int) -> str:
    lines = [f"| candidate ({epochs} epochs) | val AUC | val ACC | test AUC | test ACC | wall s |",
             "|---|---|---|---|---|---|"]
    best = max(rows, key=lambda r: r["val_auc"])["candidate"] if rows else None
    for r in rows:
        tag = (" (recommended)" if r["recommended"] else "") + (" ← best on val" if r["candidate"] == best else "")
        lines.append(f"| {r['candidate']}{tag} | {r['val_auc']:.3f} | {r['val_acc']:.3f} | {r['test_auc']:.3f} | "
                     f"{r['test_acc']:.3f} | {r['wall_s']:.0f} |")
    return "\n".join(lines)


def convergence_epoch(history: list[dict], fraction: float = 0.95, key: str = "val_auc") -> int | None:
    """First epoch (1-based) whose ``key`` reaches ``fraction`` of the run's best ``key``; None without
    epochs (a linear probe). Raghu et al. (Transfusion, NeurIPS 2019) report that pretrained weights, and
    even their Mean-Var scaling alone, reach a given validation score in fewer epochs than random init."""
    values = [h[key] for h in history if key in h]
    if not values:
        return None
    best = max(values)
    return next(i + 1 for i, v in enumerate(values) if v >= fraction * best)


def transfer_table(compare_dir: str | Path, fraction: float = 0.95) -> tuple[str, dict]:
    """Markdown table of a ``medtrain compare --vary transfer=...`` directory: test ACC/AUC mean ± std over
    seeds and the mean epoch at which validation AUC first reaches ``fraction`` of its best.

    Returns:
        ``(markdown, {strategy: {"auc": [...], "acc": [...], "conv": [...], "curves": [...]}})``.
    """
    root = Path(compare_dir)
    data: dict[str, dict] = {}
    for run_dir in sorted(d for d in root.glob("*/seed*") if rundir.is_finished(d)):
        strategy = run_dir.parent.name.replace("transfer=", "")  # e.g. "finetune", "linear-probe,probe_layer=layer3"
        m = rundir.read_metrics(run_dir)  # a damaged metrics.json: one line naming it
        try:
            auc, acc, val_auc, history = m["test"]["auc"], m["test"]["acc"], m["val"]["auc"], list(m["history"])
            curve = [h["val_auc"] for h in history]
        except (KeyError, TypeError):  # (a trial scored without its test split has an empty "test")
            raise MedtrainError(f"{run_dir / rundir.METRICS_FILE} lacks what the transfer table shows (test AUC and "
                                "ACC, validation AUC, each epoch's val_auc)") from None
        wall = m.get("wall_s")  # an older or hand-made run may not record it: shown as unknown
        d = data.setdefault(strategy, {"auc": [], "acc": [], "conv": [], "curves": [], "wall": []})
        d["auc"].append(auc)
        d["acc"].append(acc)
        d["wall"].append(wall if isinstance(wall, (int, float)) and not isinstance(wall, bool) else None)
        d["conv"].append(convergence_epoch(history, fraction))
        d["curves"].append(curve)
        d.setdefault("val", []).append(val_auc)  # the selected model's (a probe's: the chosen C's)

    def ms(v):
        return f"{np.mean(v):.3f} ± {np.std(v, ddof=1) if len(v) > 1 else 0.0:.3f}"

    lines = [f"| strategy | seeds | test AUC | test ACC | epoch to {fraction:.0%} of best val AUC | val AUC of the "
             f"selected model (mean) | wall s (mean) |", "|---|---|---|---|---|---|---|"]
    for s, d in data.items():
        conv = [c for c in d["conv"] if c is not None]
        conv_s = f"{np.mean(conv):.1f} ({', '.join(map(str, conv))})" if conv else "n/a (no epochs)"
        best_s = f"{np.mean(d['val']):.3f}"
        walls = [w for w in d["wall"] if w is not None]
        unknown = len(d["wall"]) - len(walls)
        wall_s = "unknown" if not walls else f"{np.mean(walls):.0f}" + (f" ({unknown} unknown)" if unknown else "")
        lines.append(f"| {s} | {len(d['auc'])} | {ms(d['auc'])} | {ms(d['acc'])} | {conv_s} | {best_s} | {wall_s} |")
    return "\n".join(lines), data
