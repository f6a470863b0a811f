"""Writing Lightning checkpoints so that a failed write never costs the checkpoint already there.

Lightning's :class:`TorchCheckpointIO` (2.6) saves through an fsspec transaction: the bytes go to a temporary file
in ``$TMPDIR`` that is then moved onto the checkpoint. Where ``$TMPDIR`` and the run folder are on different file
systems the move is a copy that first truncates the existing ``last.ckpt``/``best.ckpt``: a disk that filled up
half-way destroyed the previous epoch's checkpoint, and ``--resume`` had nothing to resume from. A ``$TMPDIR``
smaller than one checkpoint (HPC nodes, containers) failed the run at its first epoch's end, with room enough in
``--out``. Here the checkpoint is written to a temporary file beside it (:func:`medtrain._io.atomic_path`, the
one atomic writer of medtrain's outputs) and renamed onto its name only once it is complete.
"""
from __future__ import annotations

import os
from typing import Any, Optional

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from medtrain._io import atomic_path


class AtomicCheckpointIO(TorchCheckpointIO):
    """:class:`TorchCheckpointIO` whose saves are atomic in the checkpoint's own folder; loading and removing
    are Lightning's own (its ``weights_only`` reads and all)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Optional[Any] = None) -> None:
        if storage_options is not None or "://" in str(path):
            # a remote URL (a caller's own ModelCheckpoint to s3://...) has no folder to rename within:
            # Lightning's fsspec transaction it is (and its refusal of storage_options)
            return super().save_checkpoint(checkpoint, path, storage_options)
        try:
            # a full disk or a quota is atomic_path's one-line WriteFailed (torch's RuntimeError over the OSError too)
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as f:
                    torch.save(checkpoint, f)
                    f.flush()
                    # on disk before the rename: after a crash the name then holds the whole new checkpoint or
                    # the old one, never a file whose blocks were not yet written
                    os.fsync(f.fileno())
        except Exception as e:
            # Ctrl-C inside torch.save: its zip writer's __exit__ then fails on the half-written file ("[enforce
            # fail at inline_container.cc] unexpected pos") while the KeyboardInterrupt is handled, and that
            # RuntimeError hid the interrupt from Lightning's graceful shutdown (a traceback and exit 1, not the
            # resume hint and 130). The interrupt is what happened; the temporary file is already removed.
            interrupt = _interrupt_behind(e)
            if interrupt is None:
                raise
            raise interrupt from None


def _interrupt_behind(e: BaseException) -> Optional[KeyboardInterrupt]:
    """The KeyboardInterrupt in ``e``'s chain of causes and contexts (None if there is none)."""
    seen = set()
    while e is not None and id(e) not in seen:  # a chain can loop
        if isinstance(e, KeyboardInterrupt):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


