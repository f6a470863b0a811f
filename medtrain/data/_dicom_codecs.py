"""What to say of DICOM pixel data pydicom cannot decode: the compression (transfer syntax) and the pip packages
whose pydicom plugins decode it (:func:`medtrain.data.dicom.read_dicom_file`). No tag value is ever quoted."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from medtrain.errors import MedtrainError

# pip packages that decode a compressed transfer syntax (pydicom's plugins), by the UID's prefix
_DECODERS = [
    ("1.2.840.10008.1.2.4.8", "pylibjpeg pylibjpeg-libjpeg (or pyjpegls, or python-gdcm)"),  # JPEG-LS
    ("1.2.840.10008.1.2.4.9", "pylibjpeg pylibjpeg-openjpeg (or python-gdcm)"),  # JPEG 2000
    ("1.2.840.10008.1.2.4.20", "pylibjpeg pylibjpeg-openjpeg"),  # HTJ2K
    ("1.2.840.10008.1.2.4.10", None),  # MPEG video: no pydicom decoder
    ("1.2.840.10008.1.2.4.", "pylibjpeg pylibjpeg-libjpeg (or python-gdcm)"),  # JPEG baseline, extended, lossless
    ("1.2.840.10008.1.2.5", "pylibjpeg pylibjpeg-rle"),  # RLE
]


def _decoder_installed(ts) -> Optional[bool]:
    """Whether pydicom has a usable decoder for the transfer syntax ``ts`` (None: cannot tell)."""
    try:
        from pydicom.pixels import get_decoder  # pydicom >= 3
    except ImportError:
        try:
            import pydicom.config

            return any(h.supports_transfer_syntax(ts) and h.is_available() for h in pydicom.config.pixel_data_handlers)
        except Exception:  # noqa: BLE001
            return None
    try:
        return bool(get_decoder(ts).is_available)
    except Exception:  # noqa: BLE001  (no decoder at all for this syntax)
        return False


def undecodable(ds, path: Path, e: Exception) -> MedtrainError:
    """One line for pixel data pydicom cannot decode: a compression no installed package decodes (naming the
    transfer syntax and what to install), or damaged data."""
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    try:
        compressed = ts is not None and bool(ts.is_compressed)
    except Exception:  # noqa: BLE001  (a damaged UID that names no transfer syntax: pydicom raises ValueError)
        compressed = False
    if compressed:
        packages = next((pkgs for prefix, pkgs in _DECODERS if str(ts).startswith(prefix)), "python-gdcm")
        if packages is None:
            return MedtrainError(f"{path}: DICOM pixel data is compressed as {ts.name}, video medtrain cannot "
                                 f"decode; export its frames as images")
        if _decoder_installed(ts) is False:
            return MedtrainError(f"{path}: DICOM pixel data is compressed as {ts.name}, which no installed package "
                                 f"decodes; install a decoder: pip install {packages}")
        return MedtrainError(f"{path}: DICOM pixel data ({ts.name}) cannot be decoded, the file may be truncated "
                             f"or damaged ({type(e).__name__})")
    return MedtrainError(f"{path}: DICOM pixel data cannot be decoded, the file may be truncated "
                         f"({type(e).__name__})")
