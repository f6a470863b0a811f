"""Published test AUC / ACC of the MedMNIST v2 paper (Yang et al., Scientific Data 2023, Table 3/4).

Only rows checked against the paper (see ../shared/data/README.md) are stored; other datasets print none
rather than a number from memory.
"""
from __future__ import annotations

import numbers

MEDMNIST_V2 = {
    "pneumoniamnist": {
        "ResNet-18 (28)": (0.944, 0.854), "ResNet-18 (224)": (0.956, 0.864),
        "ResNet-50 (28)": (0.948, 0.854), "ResNet-50 (224)": (0.962, 0.884),
        "auto-sklearn": (0.942, 0.855), "AutoKeras": (0.947, 0.878), "Google AutoML Vision": (0.991, 0.946),
    },
    "breastmnist": {
        "ResNet-18 (28)": (0.901, 0.863), "ResNet-18 (224)": (0.891, 0.833),
        "ResNet-50 (28)": (0.857, 0.812), "ResNet-50 (224)": (0.866, 0.842),
        "auto-sklearn": (0.836, 0.803), "AutoKeras": (0.871, 0.831), "Google AutoML Vision": (0.919, 0.861),
    },
    "retinamnist": {
        "ResNet-18 (28)": (0.717, 0.524), "ResNet-18 (224)": (0.710, 0.493),
        "ResNet-50 (28)": (0.726, 0.528), "ResNet-50 (224)": (0.716, 0.511),
        "auto-sklearn": (0.690, 0.515), "AutoKeras": (0.719, 0.503), "Google AutoML Vision": (0.750, 0.531),
    },
    "adrenalmnist3d": {"ResNet-18+3D": (0.827, 0.721), "ResNet-50+3D": (0.828, 0.745)},
    "vesselmnist3d": {"ResNet-18+3D": (0.874, 0.877), "ResNet-50+3D": (0.907, 0.918)},
}


def ci_text(c) -> str:
    """`` [lo, hi]``, or ``""`` when there is no interval (``--bootstrap 0``: NaN in memory, null in JSON)."""
    ok = c is not None and len(c) == 2 and all(isinstance(v, (int, float)) and v == v for v in c)
    return f" [{c[0]:.3f}, {c[1]:.3f}]" if ok else ""


#: the image size (pixels a side; voxels for 3D) every stored row was trained on
PUBLISHED_SIZE = 28


def size_note(shape) -> str | None:
    """One line under the published rows where the run's images (``shape``: ``[C, *spatial]``, as ``metrics.json``'s
    ``data.shape``) are not the 28-px (28-voxel) ones those rows were trained on; None where they are, or unknown.
    MedMNIST v2's "(224)" rows are ResNets on the 28-px images upsampled to 224, not on the 224-px release
    (MedMNIST+, Doerrich et al. 2024, reports rows per size; none are stored here): a ``--size 224`` run had been
    printed beside them without a word."""
    if not shape or len(shape) < 3 or not isinstance(shape[-1], numbers.Integral) or shape[-1] == PUBLISHED_SIZE:
        return None
    size = int(shape[-1])
    if len(shape) > 3:
        return (f"the published rows were trained on MedMNIST's {PUBLISHED_SIZE}\u00b3-voxel volumes; this run "
                f"trained on {size}\u00b3 ones")
    return (f"the published rows were trained on MedMNIST's {PUBLISHED_SIZE}-px images, the \"(224)\" rows on those "
            f"upsampled to 224; this run trained on {size}-px images. MedMNIST+ (Doerrich et al. 2024) reports rows "
            f"per image size; none are stored here")


def comparison_table(dataset: str, auc: float, acc: float, auc_ci=None, acc_ci=None, label: str = "medtrain",
                     shape=None) -> str:
    """A Markdown table of this run beside the published rows for ``dataset`` (empty if none stored), and under
    it the :func:`size_note` of the run's images (``shape``: ``[C, *spatial]``) where they are not 28 px."""
    rows = MEDMNIST_V2.get(dataset)
    if not rows:
        return f"(no published MedMNIST v2 rows stored for {dataset})"

    lines = [f"| model ({dataset}) | test AUC | test ACC |", "|---|---|---|",
             f"| **{label}** | **{auc:.3f}**{ci_text(auc_ci)} | **{acc:.3f}**{ci_text(acc_ci)} |"]
    lines += [f"| {name} (MedMNIST v2) | {a:.3f} | {b:.3f} |" for name, (a, b) in rows.items()]
    note = size_note(shape)
    lines += [f"({note})"] if note else []
    return "\n".join(lines)
