"""Weights on disk as safetensors (no pickle: loading a file can never run code)."""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import load_file, safe_open, save_file

from medtrain._io import atomic_path
from medtrain.errors import MedtrainError


def save_weights(model: torch.nn.Module, path: str | os.PathLike, meta: dict | None = None) -> None:
    """Write ``model``'s state dict with JSON-encoded ``meta`` in the file's metadata."""
    # Non-tensor "extra state" (e.g. an annealed-dropout layer's epoch) is training state, not weights.
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={k: json.dumps(v) for k, v in (meta or {}).items()})
        _sort_metadata(Path(tmp))


def _sort_metadata(path: Path) -> None:
    """Rewrite the file's JSON header with its metadata keys sorted, in place (same length).

    Written by hand because safetensors' writer keeps the metadata in a Rust HashMap, whose order is drawn
    anew for every file: identical weights gave files of different bytes (and checksums), a reproducibility
    walkthrough found. The header is 8 bytes of little-endian length, then compact JSON padded with spaces;
    sorting the metadata's keys changes neither its length nor what any reader sees."""
    with open(path, "r+b") as f:
        n = int.from_bytes(f.read(8), "little")
        text = f.read(n).decode("utf-8")
        head = json.loads(text, object_pairs_hook=dict)
        if "__metadata__" not in head:
            return
        head["__metadata__"] = dict(sorted(head["__metadata__"].items()))
        new = json.dumps(head, separators=(",", ":"), ensure_ascii=False)
        new = new + " " * (n - len(new.encode("utf-8")))
        if len(new.encode("utf-8")) != n:  # another writer's formatting: leave the file as it is
            return
        f.seek(8)
        f.write(new.encode("utf-8"))


def _damaged(path, e: Exception) -> MedtrainError:
    return MedtrainError(f"{path} is not a readable safetensors file ({str(e).splitlines()[0][:80] or type(e).__name__})")


def read_meta(path: str | os.PathLike) -> dict:
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: json.loads(v) for k, v in (f.metadata() or {}).items()}
    except FileNotFoundError:
        raise MedtrainError(f"weights file not found: {path}") from None
    except Exception as e:  # noqa: BLE001  (safetensors' own SafetensorError: a damaged or foreign file)
        raise _damaged(path, e) from None


def load_state(path: str | os.PathLike) -> dict:
    """A state dict from a safetensors file, or from a PyTorch checkpoint with ``weights_only=True``
    (optionally under ``state_dict``, names without ``nn.DataParallel``'s ``module.`` prefix)."""
    p = Path(path)
    if not p.is_file():
        raise MedtrainError(f"weights file not found: {p}")
    if p.suffix == ".safetensors":
        try:
            return load_file(str(p))
        except Exception as e:  # noqa: BLE001  (SafetensorError: a damaged file, found in a user walkthrough)
            raise _damaged(p, e) from None
    return _checkpoint_state(p, p)


def _checkpoint_state(p: Path, source) -> dict:
    """The state dict of a PyTorch checkpoint read from ``source`` (its path, or its bytes as a file object),
    with ``weights_only=True``; ``p`` names it in errors."""
    try:
        obj = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (any unpickling refusal is a user-file problem)
        raise MedtrainError(f"{p} is not a weights-only PyTorch checkpoint ({type(e).__name__})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise MedtrainError(f"{p} does not hold a state dict")
    # a checkpoint saved from nn.DataParallel (MedicalNet's, for one) prefixes every name with "module."
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _read_bytes(p: Path) -> bytes:
    try:
        return p.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise MedtrainError(f"weights file not found: {p}") from None


def read_weights(path: str | os.PathLike) -> tuple[dict, dict, str]:
    """``(state, meta, sha256)`` of a weights file read once: its state dict (as :func:`load_state`), its
    metadata (as :func:`read_meta`; ``{}`` for a PyTorch checkpoint) and the SHA-256 of the very bytes both
    were read from, so a file replaced while it is read is never recorded under one hash and loaded as another."""
    p = Path(path)
    data = _read_bytes(p)
    sha = hashlib.sha256(data).hexdigest()
    if p.suffix != ".safetensors":
        return _checkpoint_state(p, io.BytesIO(data)), {}, sha
    try:
        state = load_bytes(data)
        n = int.from_bytes(data[:8], "little")
        head = json.loads(data[8:8 + n].decode("utf-8"))
        meta = {k: json.loads(v) for k, v in (head.get("__metadata__") or {}).items()}
    except Exception as e:  # noqa: BLE001  (SafetensorError, a bad header: a damaged or foreign file)
        raise _damaged(p, e) from None
    return state, meta, sha
