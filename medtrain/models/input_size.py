"""Whether a network can take an input size, and what the small-input stem costs: the one owner of the refusal
that ``train``, ``compare``, ``tune`` and ``cost`` give (one line, before any data are read), and of the warning
a zoo network's small-input stem gets.

A network is probed by building a fresh instance on the ``meta`` device and running one eval-mode, no-grad
forward of a zeros input there: shapes are propagated and checked as on a real device (a kernel larger than its
input, a pool whose output would be empty, a ViT's assertion of its own input size), while nothing is allocated
or computed (~0.1-0.5 s for any network and size).

Patch-embedding networks (ViT, DeiT, Swin, ...: a ``patch_embed`` with a ``patch_size``) take only sizes their
patches tile: timm's strided patch convolution silently drops the pixels beyond the last whole patch (a 28 px
input through 16 px patches keeps 16 px), so such a size is refused too.
"""
from __future__ import annotations

import functools
import math
import warnings
from typing import Optional, Sequence, Union

import torch

from medtrain.errors import MedtrainError

Shape = Union[int, Sequence[int]]

#: Probe sizes beyond which the smallest size that works is not looked for.
LARGEST_PROBED = 1024


class SmallInputStemWarning(UserWarning):
    """A zoo network gets medtrain's small-input stem (no downsampling stem, ``input_size <= 64``) at a size
    where its standard stem works too: several times the multiply-accumulates, said once per run."""


def _spatial(shape: Shape, spatial_dims: int) -> tuple:
    return tuple(int(s) for s in shape) if isinstance(shape, (tuple, list)) else (int(shape),) * spatial_dims


def _base(name: str) -> str:
    from medtrain.models.factory import SEPARABLE_SUFFIX

    return name.removesuffix(SEPARABLE_SUFFIX)  # separable convolutions keep every kernel's size and stride


@functools.lru_cache(maxsize=256)
def _fault(name: str, shape: tuple, in_chans: int, small_stem: bool = True) -> Optional[str]:
    """Why ``name`` cannot take inputs of spatial ``shape`` (the first line of its error), or None: built as a run
    builds it for that size (``small_stem=False``: with the standard stem, i.e. no ``input_size``)."""
    from medtrain.models.factory import create_model

    try:
        with torch.device("meta"), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a builder's own notes are said when the run builds it
            model = create_model(name, in_chans=in_chans, num_classes=2,
                                 input_size=int(shape[-1]) if small_stem else None).eval()
            patch = _patch(model)
            if patch is not None and any(s % p for s, p in zip(shape[-len(patch):], patch)):
                return (f"its {'x'.join(map(str, patch))} px patches do not tile it (timm would drop the pixels "
                        f"beyond the last whole patch)")
            model(torch.zeros((1, in_chans) + shape))
    except MedtrainError:
        raise  # a name or option of the user's: its own line
    except (RuntimeError, AssertionError, ValueError, IndexError, ZeroDivisionError, TypeError) as e:
        if isinstance(e, NotImplementedError) or "meta" in str(e):  # an op without a meta kernel: not a size
            return _fault_on_cpu(name, shape, in_chans, small_stem)  # fault, so the real forward decides
        return (str(e).strip().splitlines() or [type(e).__name__])[0]
    return None


def _fault_on_cpu(name: str, shape: tuple, in_chans: int, small_stem: bool) -> Optional[str]:
    from medtrain.models.factory import create_model

    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = create_model(name, in_chans=in_chans, num_classes=2,
                                 input_size=int(shape[-1]) if small_stem else None).eval()
            model(torch.zeros((1, in_chans) + shape))
    except (RuntimeError, AssertionError, ValueError, IndexError, ZeroDivisionError, TypeError) as e:
        return (str(e).strip().splitlines() or [type(e).__name__])[0]
    return None


def _patch(model: torch.nn.Module) -> Optional[tuple]:
    size = getattr(getattr(model, "patch_embed", None), "patch_size", None)
    if isinstance(size, int):
        return (size, size)
    return tuple(int(s) for s in size) if isinstance(size, (tuple, list)) and size else None


@functools.lru_cache(maxsize=256)  # a network built (on the meta device) once per name: train, auto and its line ask
def spatial_dims_of(name: str) -> int:
    """3 for a zoo network of volumes (built on the meta device to tell), 2 for any other (timm's are 2D)."""
    from medtrain.models._registry import is_registered

    name = _base(name)  # (med3d_resnet10-separable is a 3D network)

    if not is_registered(name):
        return 2  # timm's networks are all 2D
    from medtrain.models.cost import is_3d
    from medtrain.models.factory import create_model

    with torch.device("meta"):
        return 3 if is_3d(create_model(name, in_chans=1, num_classes=2)) else 2


def smallest_size(name: str, side: int, in_chans: int = 3, spatial_dims: int = 2) -> Optional[int]:
    """The smallest side above ``side`` that ``name`` takes (square inputs), or None where none up to
    :data:`LARGEST_PROBED` was found: for patch networks the next multiples of the patch, otherwise sizes
    probed upward by factors (x1.25 .. x8), then bisected between the last that failed and the first that worked
    (a network that takes a size takes the larger ones, its strides only shrinking the map less)."""
    base = _base(name)

    def works(s: int) -> bool:
        return _fault(base, (s,) * spatial_dims, in_chans) is None

    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from medtrain.models.factory import create_model

        patch = _patch(create_model(base, in_chans=in_chans, num_classes=2, input_size=side))
    if patch is not None:
        p = max(patch)
        first = (side // p + 1) * p
        return next((s for s in range(first, min(first + 4 * p, LARGEST_PROBED) + 1, p) if works(s)), None)
    lo, hi = side, None
    for f in (1.25, 1.5, 2, 3, 4, 8):
        s = min(max(side + 1, math.ceil(side * f)), LARGEST_PROBED)
        if s <= lo:
            continue
        if works(s):
            hi = s
            break
        lo = s
    if hi is None:
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if works(mid) else (mid, hi)
    return hi


def input_size_error(name: str, shape: Shape, in_chans: int = 3, reason: str = "",
                     spatial_dims: int = 2) -> MedtrainError:
    """The one line that refuses ``name`` on inputs of ``shape``: its reason, and the sizes it takes where they
    are found cheaply (the smallest above, and 64 px with medtrain's small-input stem where that works)."""
    dims = _spatial(shape, spatial_dims)
    shown = str(dims[0]) if len(set(dims)) == 1 else "x".join(map(str, dims))
    takes = _takes(_base(name), dims, in_chans)
    hint = f"; it takes {', or '.join(takes)}" if takes else ""
    why = f": {reason}" if reason else ""
    return MedtrainError(f"{name} cannot run on {shown} px inputs{why}{hint}")


def _takes(base: str, dims: tuple, in_chans: int) -> list:
    """The sizes ``base`` takes, where found cheaply (square inputs only): the smallest above, and
    64 px or less with the small-input stem where that works."""
    from medtrain.models._zoo import SMALL_INPUT, family_of

    side, takes = max(dims), []
    if len(set(dims)) == 1:
        above = smallest_size(base, side, in_chans, len(dims))
        if above is not None:
            takes.append(f"{above} px or more" if _patch_of(base, side, in_chans) is None
                         else f"multiples of its patch size, e.g. {above} px")
        if side > SMALL_INPUT and family_of(base) and _fault(base, (SMALL_INPUT,) * len(dims), in_chans) is None:
            takes.append(f"{SMALL_INPUT} px or less with medtrain's small-input stem")
    return takes


def size_note(name: str, side: int, in_chans: int = 3) -> Optional[str]:
    """None where ``name`` takes square 2D inputs of ``side`` px (:func:`check_input_size`'s rule, its probe);
    else a table cell's short reason: "takes 32 px or more", "takes multiples of its patch size, e.g. 32 px" (the
    sizes of :func:`input_size_error`), or "cannot take 28 px" where none was found."""
    dims = (int(side),) * 2
    try:
        check_input_size(name, dims, in_chans, spatial_dims=2)
        return None
    except MedtrainError:
        pass
    takes = _takes(_base(name), dims, int(in_chans))
    return f"takes {', or '.join(takes)}" if takes else f"cannot take {side} px"


def _patch_of(name: str, side: int, in_chans: int) -> Optional[tuple]:
    from medtrain.models.factory import create_model

    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _patch(create_model(name, in_chans=in_chans, num_classes=2, input_size=side))


def check_input_size(name: str, shape: Shape, in_chans: int = 3, spatial_dims: Optional[int] = None) -> None:
    """Refuse, in one line (:func:`input_size_error`), a network that cannot take inputs of ``shape`` (a side, or
    the spatial shape) with ``in_chans`` channels, before a run reads its data: built as the run would build it,
    probed on the meta device (a successful probe is remembered for the process). The channel count does not
    change which sizes a network takes (only the first convolution's input width), so where the data's count is
    not known yet, 3 stands for it."""
    base = _base(name)
    dims = _spatial(shape, spatial_dims or (len(shape) if isinstance(shape, (tuple, list)) else
                                            spatial_dims_of(base)))
    fault = _fault(base, dims, int(in_chans))
    if fault is not None:
        raise input_size_error(name, dims, in_chans, fault)


#: How a run's data kind reaches inputs over 64 px, where a zoo network keeps its standard stem: image files are
#: resized by --image-size; a MedMNIST set comes at the --size of its file (64 is still the small stem); an .npz's
#: arrays are read at their size. None (not known): all three.
STEM_ADVICE = {
    "files": "--image-size 65 or more gives it",
    "medmnist": "the set's --size 128 or 224 gives it (its 64 px files still get the small stem)",
    "npz": "an .npz is read at its size, so no setting gives it (arrays of 65 px or more would)",
    None: ("--image-size 65 or more gives it for image folders and CSVs, --size 128 or 224 for a MedMNIST set; an "
           ".npz is read at its size"),
}


def stem_of(name: str, side: int, in_chans: int = 3, num_classes: int = 2) -> Optional[dict]:
    """Which stem zoo network ``name`` gets at ``side`` px, as a run (and ``medtrain cost``) builds it: ``stem``
    ``"small-input"`` (medtrain's, no downsampling stem, at :data:`~medtrain.models._zoo.SMALL_INPUT` px or less)
    or ``"standard"``; with the small one, ``standard_stem`` the standard stem's ``params`` and ``macs`` at that
    size where it takes it (None where it cannot: ``standard_fault`` says why), and ``macs``/``params`` the small
    one's. None for a network without the choice (medtrain's own, timm's outside the zoo)."""
    from medtrain.models._zoo import family_of, small
    from medtrain.models.cost import count_cost
    from medtrain.models.factory import create_model

    base = _base(name)
    if family_of(base) is None or side < 1:
        return None
    out = {"stem": "standard", "standard_stem": None, "standard_fault": None}
    if not small(side):
        return out
    fault = _fault(base, (side, side), in_chans, False)
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adapted = count_cost(create_model(name, in_chans=in_chans, num_classes=num_classes, input_size=side),
                             (side, side), in_chans)
        stock = None if fault else count_cost(create_model(name, in_chans=in_chans, num_classes=num_classes),
                                              (side, side), in_chans)
    if stock is not None and (stock.macs, stock.params) == (adapted.macs, adapted.params):
        return out  # a family whose stem is not adapted: the standard one at every size
    return {"stem": "small-input", "macs": adapted.macs, "params": adapted.params, "standard_fault": fault,
            "standard_stem": None if stock is None else {"macs": stock.macs, "params": stock.params}}


def small_stem_note(name: str, side: int, in_chans: int = 3, num_classes: int = 2,
                    data_kind: Optional[str] = None) -> Optional[str]:
    """The line said when zoo network ``name`` gets medtrain's small-input stem at ``side`` px where its standard
    stem works too: both multiply-accumulate counts (:func:`stem_of`) and how the run's data reach the standard
    stem (``data_kind``: ``"files"``, ``"medmnist"`` or ``"npz"``, :data:`STEM_ADVICE`; None: not known); None
    where it does not (not a zoo family, a larger side, or a standard stem that cannot take the size)."""
    from medtrain.models._zoo import SMALL_INPUT

    if data_kind not in STEM_ADVICE:
        raise ValueError(f"data_kind must be one of {sorted(k for k in STEM_ADVICE if k)} or None, got {data_kind!r}")
    stem = stem_of(name, side, in_chans, num_classes) if 0 < side <= SMALL_INPUT else None
    if stem is None or stem["standard_stem"] is None:
        return None
    adapted, stock = stem["macs"], stem["standard_stem"]["macs"]
    return (f"{name} at {side} px gets medtrain's small-input stem (no downsampling stem, at {SMALL_INPUT} px or "
            f"less): {_macs(adapted)} per image against {_macs(stock)} with its standard stem "
            f"({adapted / max(stock, 1):.1f}x); the standard stem needs more than {SMALL_INPUT} px: "
            f"{STEM_ADVICE[data_kind]}")


def _macs(n: int) -> str:
    return f"{n / 1e9:.3f} GMACs" if n >= 1e9 else f"{n / 1e6:.1f} MMACs"


def warn_small_stem(name: str, side: int, in_chans: int = 3, num_classes: int = 2,
                    data_kind: Optional[str] = None) -> Optional[str]:
    """Say :func:`small_stem_note` as a :class:`SmallInputStemWarning` (the caller says it once per run); the
    line, or None where there is nothing to say."""
    note = small_stem_note(name, side, in_chans, num_classes, data_kind)
    if note is not None:
        warnings.warn(SmallInputStemWarning(note), stacklevel=2)
    return note
