"""medtrain's file plumbing, at the bottom layer: every module imports these names from here.

One module per concept:

- :mod:`~medtrain._io.run_files`: a run folder's file names (``config.yaml``, ``metrics.json``,
  ``model.safetensors`` ...) and its lowest readers (:func:`is_finished`, :func:`read_metrics`);
- :mod:`~medtrain._io.paths`: what a path names before it is read or written (:func:`path_kind`,
  :func:`file_problem`: missing, a link loop, a FIFO or a device; :func:`check_output`) and :func:`cache_dir`;
- :mod:`~medtrain._io.streams`: outputs written in place (``-``, ``/dev/stdout``, a pipe: :func:`open_stream`);
- :mod:`~medtrain._io.storage`: writes the storage refuses (a full disk, a quota, a read-only file system) as one
  :class:`WriteFailed` line;
- :mod:`~medtrain._io.atomic`: atomic writing (a reader never sees a half-written output: :func:`atomic_path`,
  :func:`atomic_dir`, :func:`write_text`, :func:`write_json`) and the sweep of temporaries a killed writer left;
- :mod:`~medtrain._io.formats`: values as the text of medtrain's files (JSON without NaN, a CSV cell).

The YAML reader and writer are :mod:`medtrain._yaml`.
"""
from medtrain._io.atomic import TEMPORARY, as_created, atomic_dir, atomic_path, sweep_temporaries, write_json, write_text
from medtrain._io.formats import csv_cell, json_safe
from medtrain._io.paths import MISSING, NOT_REGULAR, cache_dir, check_output, file_problem, path_kind, why_not_read
from medtrain._io.run_files import (CHECKPOINT_DIR, CONFIG_FILE, FEATURES_FILE, METRICS_FILE, WEIGHTS_FILE, eval_file,
                                    is_finished, read_metrics)
from medtrain._io.storage import STORAGE_ERRNOS, WriteFailed, storage_error
from medtrain._io.streams import STDOUT, is_stream, open_stream

__all__ = [
    "CHECKPOINT_DIR", "CONFIG_FILE", "FEATURES_FILE", "METRICS_FILE", "WEIGHTS_FILE", "eval_file", "is_finished",
    "read_metrics",
    "MISSING", "NOT_REGULAR", "cache_dir", "check_output", "file_problem", "path_kind", "why_not_read",
    "STDOUT", "is_stream", "open_stream",
    "STORAGE_ERRNOS", "WriteFailed", "storage_error",
    "TEMPORARY", "as_created", "atomic_dir", "atomic_path", "sweep_temporaries", "write_json", "write_text",
    "csv_cell", "json_safe",
]
