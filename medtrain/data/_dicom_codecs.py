"""What to say of DICOM pixel data pydicom cannot decode: the compression (transfer syntax) and the pip packages
whose pydicom plugins decode it (:func:`medtrain.data.dicom.read_dicom_file`); and of a file pydicom cannot read
(:func:`unreadable`): truncated (or cut off before its pixel data, :func:`cut_off`), or a malformed element. No
tag value is ever quoted."""
from __future__ import annotations

import re
import struct
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


def _kind(e: Exception) -> str:
    return "struct.error" if isinstance(e, struct.error) else type(e).__name__


def _element(e: Exception) -> Optional[str]:
    """The element pydicom's message ``e`` names, and the VR it was read as (``(0020,000E) SeriesInstanceUID, read
    as VR FD``), without the value the message quotes (a patient's ID, name...); None where it names none."""
    text = str(e)
    tag = re.search(r"\(([0-9A-Fa-f]{4}),\s*([0-9A-Fa-f]{4})\)", text)
    if tag is None:
        return None
    from pydicom.datadict import keyword_for_tag

    group, elem = (int(x, 16) for x in tag.groups())
    keyword = keyword_for_tag((group << 16) | elem)
    vr = re.search(r"\bVR '?([A-Z]{2})\b", text)
    return (f"({group:04X},{elem:04X})" + f" {keyword}" * bool(keyword)
            + (f", read as VR {vr.group(1)}" if vr else ""))


def unreadable(path, e: Exception) -> MedtrainError:
    """One line for a DICOM file pydicom could not read, saying what pydicom said without quoting a value: a
    truncated file (EOFError, or a short read: struct.error) is "possibly truncated" with pydicom's first line
    (which quotes byte counts and offsets, no value); another error (a malformed element: a value that does not fit
    its VR) names the element pydicom names and the error's type. Both had read "possibly truncated"."""
    first = next(iter(str(e).strip().splitlines()), "").strip()
    short = isinstance(e, (EOFError, struct.error))  # pydicom's short reads: their text quotes no value
    if short or re.search(r"truncated|end of file", first, re.IGNORECASE):
        said = f": {first[:100]}{'...' * (len(first) > 100)}" if short and first else ""
        return MedtrainError(f"{path}: unreadable DICOM file, possibly truncated ({_kind(e)}{said})")
    if isinstance(e, OSError):  # the disk, not the data (EIO on a failing disk or network mount)
        return MedtrainError(f"{path}: unreadable DICOM file ({_kind(e)}: {e.strerror or 'cannot be read'})")
    element = _element(e)
    if element is not None:
        return MedtrainError(f"{path}: unreadable DICOM file: malformed element {element} ({_kind(e)}; its value "
                             f"is not shown)")
    return MedtrainError(f"{path}: unreadable DICOM file: malformed data ({_kind(e)})")


def cut_off(ds) -> bool:
    """Whether a data set without pixel data was cut off rather than of a non-image kind: its header is an image's
    (an image storage SOP class, CT Image Storage..., or rows and columns), or it names no SOP class at all (a file
    ending inside its file meta header). pydicom reads a file up to where it ends without a word, and a truncated
    CT slice had read as "holds no image (a non-image SOP class ...)"."""
    meta = getattr(ds, "file_meta", None)
    sop = ds.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta is not None else None)
    return image_class(sop) or ("Rows" in ds and "Columns" in ds)


def image_class(sop) -> bool:
    """Whether the SOP class UID ``sop`` may name an image: an image storage class (CT Image Storage...), or none
    named (None: nothing tells it is not one). A malformed UID names no image class."""
    try:
        return sop is None or "Image Storage" in str(getattr(sop, "name", ""))
    except Exception:  # noqa: BLE001  (a malformed UID)
        return False


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
    element = _element(e)
    if element is not None:  # an attribute the pixels are read by (Rows, BitsAllocated...) stored in a wrong VR
        return MedtrainError(f"{path}: DICOM pixel data cannot be decoded: malformed element {element} ({_kind(e)}; "
                             f"its value is not shown)")
    return MedtrainError(f"{path}: DICOM pixel data cannot be decoded, the file may be truncated "
                         f"({type(e).__name__})")
