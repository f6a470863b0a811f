"""Values as the text of medtrain's files: JSON without NaN or infinity (:func:`json_safe`), a CSV cell."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (also NumPy's) replaced by None, recursively."""
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    return obj


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def csv_cell(text: str) -> str:
    """A CSV field, quoted when it holds a comma, quote or line break (label names may)."""
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n\r') else text
