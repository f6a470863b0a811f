"""DICOM as users hold it: a colour DICOM series (a 3D volume of RGB/YBR slices) is refused in one line, not read
as grey.

Files are written in the test with pydicom; nothing is downloaded.
"""
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

from medtrain.config import resolve
from medtrain.data import load_splits
from medtrain.data.volumes import load_entry
from medtrain.errors import MedtrainError

from test_dicom_fidelity import red_and_green, write_dicom


def _one_line(match: str, fn, *args, **kw) -> str:
    with pytest.raises(MedtrainError, match=match) as e:
        fn(*args, **kw)
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


# --------------------------------------------------------------------------- colour series


def _colour_series(folder: Path, photometric="RGB", slices=4) -> Path:
    uid = generate_uid()
    for k in range(slices):
        im = red_and_green(seed=k)
        if photometric != "RGB":
            from pydicom.pixels import convert_color_space

            im = convert_color_space(im, "RGB", photometric)
        write_dicom(folder / f"{k}.dcm", im, photometric=photometric, modality="XC", series=uid, position=(0, 0, k))
    return folder


@pytest.mark.parametrize("photometric", ["RGB", "YBR_FULL"])
def test_a_colour_series_is_refused_in_one_line_not_read_as_grey(tmp_path, photometric):
    # a series of RGB slices had become a one-channel volume of their luminance: red and green of equal
    # luminance one grey, without a word
    series = _colour_series(tmp_path / "s", photometric)
    msg = _one_line("colour DICOM series are not supported", load_entry, series, size=(4, 8, 8))
    assert str(series) in msg and "grey" in msg


def test_a_csv_of_colour_series_is_refused_naming_the_series_and_grey_ones_still_load(tmp_path):
    grey_uid = generate_uid()
    for k in range(4):  # a grey series beside the colour ones: read as before
        write_dicom(tmp_path / "g" / f"{k}.dcm", np.full((16, 16), 100 + 20 * k, np.uint16), modality="MR",
                    series=grey_uid, position=(0, 0, k))
    _colour_series(tmp_path / "c1")
    (tmp_path / "labels.csv").write_text("path,label\ng,a\nc1,b\n")
    cfg = {"data": str(tmp_path), "data_dir": str(tmp_path / "cache"), "volume_size": 8}
    msg = _one_line("colour DICOM series are not supported", load_splits, resolve(cfg))
    assert str(tmp_path / "c1") in msg
    arr, _ = load_entry(tmp_path / "g", size=(4, 8, 8))
    assert arr.shape == (4, 8, 8) and arr.min() == 0 and arr.max() == 255
