"""Every augmentation op by name: what it does and the settings it reads, with their defaults.

``medtrain augment list`` prints it; ``--augment`` takes the names, ``--augment-params`` (or a YAML config's
``augment_params``) the settings. The settings and defaults are not written down a second time: each op's factory is
built once with a mapping that records every key it asks for and the default it falls back to, so the list is what
training uses.
"""
from __future__ import annotations

from medtrain.augment import FITTED, _Reads, fitted_stand_ins
from medtrain.augment._registry import get_op, op_about, op_names
from medtrain.errors import MedtrainError


def op_settings(name: str) -> dict:
    """``{setting: default}`` of the op ``name``, in the order it reads them (``None``: no default, e.g. ``rrc_size``,
    whose absence means the input's size, or ``policy_file``, which the op needs): its factory built with the
    recording mapping training's settings go through (:class:`medtrain.augment._Reads`), holding only stand-ins of
    the fitted values, which are no setting."""
    reads = _Reads(fitted_stand_ins())
    try:
        get_op(name)(reads)
    except MedtrainError:  # 'policy' without its file: what it asked for before refusing is what it reads
        pass
    return {k: v for k, v in reads.asked.items() if k not in FITTED}


def catalogue() -> list[dict]:
    """``[{"op", "about", "volumes", "settings"}]`` for every registered op, images' first, by name."""
    rows = [{"op": n, "about": op_about(n), "volumes": n.startswith("3d_"), "settings": op_settings(n)}
            for n in op_names()]
    return sorted(rows, key=lambda r: (r["volumes"], r["op"]))


def default_text(value) -> str:
    """A default as ``--augment-params`` takes it back: ``0.5``, ``[0.9,1.1]``, ``imagenet``; ``-`` for none."""
    if value is None:
        return "-"
    if isinstance(value, (tuple, list)):
        return "[" + ",".join(default_text(v) for v in value) + "]"
    if isinstance(value, float):  # 15, 0.125; 4/3 in full, as it would have to be given to be the same
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


__all__ = ["catalogue", "default_text", "op_settings"]
