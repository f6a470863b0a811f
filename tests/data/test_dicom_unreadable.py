"""A DICOM file pydicom cannot read is said as what it is: a truncated file "possibly truncated" (with pydicom's
first line, byte counts and no value), an element whose value does not fit its VR by that element and VR (never its
value: it may be the patient's ID). Every such error had read "unreadable DICOM file, possibly truncated", and a
slice cut off before its pixel data "holds no image (a non-image SOP class ...)"."""
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from medtrain.data import dicom
from medtrain.data._dicom_codecs import unreadable
from medtrain.errors import MedtrainError

from test_dicom import SECRET_ID, write_slice


@pytest.fixture
def slice_bytes(tmp_path) -> bytes:
    p = tmp_path / "ok.dcm"
    write_slice(p, np.zeros((8, 8)), (0, 0, 0), "1.2.34", modality="MR")
    return p.read_bytes()


def _with(tmp_path, raw: bytes, element: bytes, vr: bytes) -> Path:
    """The slice with ``element`` (its tag, VR and length bytes) stored under the VR ``vr`` (a wrong VR)."""
    assert raw.count(element) == 1
    p = tmp_path / "bad.dcm"
    p.write_bytes(raw.replace(element, element[:4] + vr + element[6:]))
    return p


def _said(fn, path) -> str:
    with pytest.raises(MedtrainError) as e:
        fn(path)
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message[len(f"{path}: "):]


def test_an_element_of_a_wrong_vr_is_named_not_called_truncated(tmp_path, slice_bytes):
    bad = _with(tmp_path, slice_bytes, b"\x20\x00\x0e\x00UI\x06\x00", b"FD")  # SeriesInstanceUID '1.2.34' as FD
    assert _said(dicom.series_uid, bad) == ("unreadable DICOM file: malformed element (0020,000E) SeriesInstanceUID, "
                                            "read as VR FD (BytesLengthException; its value is not shown)")
    rows = _with(tmp_path, slice_bytes, b"\x28\x00\x10\x00US\x02\x00", b"FD")  # Rows as FD
    assert _said(dicom.image_shape, rows) == ("unreadable DICOM file: malformed element (0028,0010) Rows, read as VR "
                                              "FD (BytesLengthException; its value is not shown)")
    assert _said(dicom.read_dicom_file, rows) == ("DICOM pixel data cannot be decoded: malformed element (0028,0010) "
                                                  "Rows, read as VR FD (BytesLengthException; its value is not shown)")


def test_the_value_pydicom_quotes_is_never_said(tmp_path, slice_bytes):
    element = slice_bytes[slice_bytes.index(SECRET_ID.encode()) - 8:slice_bytes.index(SECRET_ID.encode())]
    assert element[:6] == b"\x10\x00\x20\x00LO"  # PatientID
    bad = _with(tmp_path, slice_bytes, element, b"FD")
    said = _said(dicom.patient_group, bad)  # pydicom's own text: "... Instead received b'SECRETID4711' ..."
    assert said == ("unreadable DICOM file: malformed element (0010,0020) PatientID, read as VR FD "
                    "(BytesLengthException; its value is not shown)")
    assert SECRET_ID not in said


def test_a_truncated_file_is_said_possibly_truncated_with_what_pydicom_said(tmp_path, slice_bytes):
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(slice_bytes[:153])  # inside the file meta header: a short read
    for fn in (dicom.read_dicom_file, dicom.series_uid, dicom.patient_group):
        assert _said(fn, cut) == ("unreadable DICOM file, possibly truncated (struct.error: unpack requires a buffer "
                                  "of 4 bytes)")
    for n in (140, 400, len(slice_bytes) // 2):  # pydicom reads what there is, without a word: no pixel data
        cut.write_bytes(slice_bytes[:n])
        assert _said(dicom.read_dicom_file, cut) == ("unreadable DICOM file, possibly truncated: it ends before its "
                                                     "pixel data")
    # a file of a non-image kind still holds no image
    assert _said(dicom.read_dicom_file, Path(get_testdata_file("rtplan.dcm"))).startswith("DICOM file holds no image")


def test_eof_errors_and_pydicoms_end_of_file_texts_are_truncation_others_are_not():
    eof = EOFError("Unexpected end of file. Read 10 bytes of 40 expected starting at position 0x1a2\nmore")
    assert str(unreadable("x.dcm", eof)) == ("x.dcm: unreadable DICOM file, possibly truncated (EOFError: Unexpected "
                                             "end of file. Read 10 bytes of 40 expected starting at position 0x1a2)")
    assert str(unreadable("x.dcm", OSError("the file is truncated"))) == \
        "x.dcm: unreadable DICOM file, possibly truncated (OSError)"
    assert str(unreadable("x.dcm", OSError(5, "Input/output error"))) == \
        "x.dcm: unreadable DICOM file (OSError: Input/output error)"
    assert str(unreadable("x.dcm", ValueError("bad 'SECRET' value"))) == \
        "x.dcm: unreadable DICOM file: malformed data (ValueError)"


def test_a_file_meta_element_of_an_unknown_vr_is_named_not_a_traceback(tmp_path):
    # found by the DICOM fuzz test: a file without pixel data or SOP class whose (0002,0002) has the VR 'U\x00' had
    # raised pydicom's NotImplementedError from the check of whether it was cut off
    import io

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta, ds.Modality = meta, "CT"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    bad = _with(tmp_path, buf.getvalue(), b"\x02\x00\x02\x00UI", b"U\x00")
    for fn in (dicom.read_dicom_file, dicom.read_dicom_image):
        assert _said(fn, bad) == ("unreadable DICOM file: malformed element (0002,0002) MediaStorageSOPClassUID "
                                  "(NotImplementedError; its value is not shown)")
