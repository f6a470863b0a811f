"""What is not a regular file among the training inputs (a FIFO, a device such as /dev/zero, a symbolic link
loop) is refused in one line that says so, before it is opened: opening a FIFO had waited for a writer for ever
(a security walkthrough), and /dev/zero or a loop had been reported as "image not found". A link to a regular
file is read as the file."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import no_hang
from medtrain.config import resolve
from medtrain.data import load_csv, load_folder, load_splits
from medtrain.data.dicom import is_dicom_file, read_dicom_file
from medtrain.errors import MedtrainError

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo") or not hasattr(signal, "SIGALRM"),
                                reason="FIFOs and alarms are POSIX")


def _images(folder: Path, n: int = 6) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(folder / f"{i}.png")
    return [f"imgs/{i}.png" for i in range(n)]


def _rows(paths: list[str]) -> str:
    """CSV rows of ``paths``, one of each class in each split."""
    return "".join(f"{p},{'ab'[i % 2]},{('train', 'val', 'test')[i // 2 % 3]}\n" for i, p in enumerate(paths))


def _csv(tmp_path: Path, odd: str) -> Path:
    """A training CSV of six good images, and ``odd`` as a last row."""
    csv = tmp_path / "labels.csv"
    csv.write_text("path,label,split\n" + _rows(_images(tmp_path / "imgs")) + f"{odd},b,train\n")
    return csv


def _special(tmp_path: Path, kind: str) -> str:
    """A non-regular file (or a loop) of ``kind`` as a CSV row names it."""
    if kind in ("IM0007", "fifo.png"):  # a FIFO named as a DICOM slice without suffix, and as an image
        os.mkfifo(tmp_path / kind)
        return kind
    if kind == "dev_zero":
        return "/dev/zero"
    (tmp_path / "loopa.png").symlink_to("loopb.png")
    (tmp_path / "loopb.png").symlink_to("loopa.png")
    return "loopa.png"


SAID = {"IM0007": "not a regular file", "fifo.png": "not a regular file", "dev_zero": "not a regular file",
        "loop": "symbolic link loop"}


@pytest.mark.parametrize("kind", list(SAID))
def test_a_training_csv_listing_a_fifo_a_device_or_a_link_loop_is_one_line_naming_it(tmp_path, kind):
    odd = _special(tmp_path, kind)
    csv = _csv(tmp_path, odd)
    with no_hang(), pytest.raises(MedtrainError) as e:
        load_splits(resolve({"data": str(csv), "data_dir": str(tmp_path)}))
    msg = str(e.value)
    assert "\n" not in msg and SAID[kind] in msg and Path(odd).name in msg and "not found" not in msg


@pytest.mark.parametrize("kind", list(SAID))
def test_skip_bad_skips_a_listed_fifo_a_device_or_a_link_loop_with_the_reason(tmp_path, kind):
    csv = _csv(tmp_path, _special(tmp_path, kind))
    with no_hang():
        splits = load_csv(csv, skip_bad=True)
    (skipped,) = splits.extra["skipped"]
    assert SAID[kind] in skipped["reason"]
    assert sum(len(splits.split(s)) for s in ("train", "val", "test")) == 6


def test_a_fifo_in_a_class_folder_is_refused_or_skipped_not_waited_on(tmp_path):
    for c in "ab":
        _images(tmp_path / "data" / c, 10)
    os.mkfifo(tmp_path / "data" / "b" / "scan.png")
    with no_hang(), pytest.raises(MedtrainError, match=r"scan\.png: not a regular file"):
        load_folder(tmp_path / "data")
    with no_hang():
        splits = load_folder(tmp_path / "data", skip_bad=True)
    assert [s["path"][-8:] for s in splits.extra["skipped"]] == ["scan.png"]


def test_data_naming_a_fifo_is_said_to_be_no_regular_file(tmp_path):
    os.mkfifo(tmp_path / "data")
    with no_hang(), pytest.raises(MedtrainError, match=r"^--data .*data: not a regular file"):
        load_splits(resolve({"data": str(tmp_path / "data")}))


def test_a_dicom_reader_never_opens_a_fifo(tmp_path):
    """Slices exported without a suffix are found by their content, which a FIFO must not be asked for."""
    os.mkfifo(tmp_path / "IM0007")
    os.mkfifo(tmp_path / "slice.dcm")
    with no_hang():
        assert not is_dicom_file(tmp_path / "IM0007")
        with pytest.raises(MedtrainError, match=r"slice\.dcm: not a regular file"):
            read_dicom_file(tmp_path / "slice.dcm")


def test_links_to_regular_files_are_read_as_the_files(tmp_path):
    rows = _images(tmp_path / "imgs")
    (tmp_path / "linked").mkdir()
    for r in rows:
        (tmp_path / "linked" / Path(r).name).symlink_to(tmp_path / r)
    csv = tmp_path / "labels.csv"
    csv.write_text("path,label,split\n" + _rows([f"linked/{Path(r).name}" for r in rows]))
    splits = load_splits(resolve({"data": str(csv), "data_dir": str(tmp_path)}))
    assert sum(len(splits.split(s)) for s in ("train", "val", "test")) == 6


def test_a_volume_entry_that_is_a_fifo_is_said_to_be_one(tmp_path):
    from medtrain.data.volumes import load_entry

    os.mkfifo(tmp_path / "scan.nii")
    with no_hang():
        with pytest.raises(MedtrainError, match=r"scan\.nii: not a regular file"):
            load_entry(tmp_path / "scan.nii")
        with pytest.raises(MedtrainError, match=r"gone\.nii: not found"):
            load_entry(tmp_path / "gone.nii")
