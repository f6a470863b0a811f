"""Labels that look alike are one class to the user: a label column holding ``1`` and ``1.0`` (what a
spreadsheet writes for a float column), or ``hématome`` composed on some rows and decomposed on others (Unicode
NFC and NFD, as macOS writes names), is refused in one line naming the pair, not trained as extra classes."""
import unicodedata

import numpy as np
import pytest
from PIL import Image

from medtrain.cli import main
from medtrain.data import load_csv, load_folder
from medtrain.data.table import read_label_csv
from medtrain.errors import MedtrainError

NFC = unicodedata.normalize("NFC", "hématome")
NFD = unicodedata.normalize("NFD", "hématome")


def _csv(tmp_path, labels, images=False):
    """labels.csv with one row ``N.png,label`` per label (and the PNGs, with ``images``)."""
    if images:
        for i in range(len(labels)):
            Image.fromarray(np.full((8, 8), i * 5 % 256, np.uint8), "L").save(tmp_path / f"{i}.png")
    (tmp_path / "labels.csv").write_text("path,label\n" + "".join(f"{i}.png,{v}\n" for i, v in enumerate(labels)),
                                         encoding="utf-8")
    return tmp_path / "labels.csv"


def _one_line(e, *parts):
    msg = str(e.value)
    assert "\n" not in msg and all(p in msg for p in parts), msg


@pytest.mark.parametrize("other", ["1.0", "01", "+1", "1.00", "1e0"])
def test_labels_that_are_one_number_written_two_ways_are_refused_naming_both(tmp_path, other):
    labels = ["0", "1"] * 10 + [other] * 3
    with pytest.raises(MedtrainError) as e:
        read_label_csv(_csv(tmp_path, labels))
    _one_line(e, "labels.csv: labels '1' (10 rows) and '" + other + "' (3 rows) are one number written differently",
              "would train as 2 classes", "write each class one way on every row")


def test_labels_in_unicode_nfc_and_nfd_are_refused_naming_both(tmp_path):
    assert NFC != NFD
    labels = [NFC] * 7 + ["normal"] * 9 + [NFD] * 4
    with pytest.raises(MedtrainError) as e:
        load_csv(_csv(tmp_path, labels, images=True))
    _one_line(e, f"labels '{NFC}' (7 rows) and '{NFD}' (4 rows) differ only in their Unicode encoding",
              "h\\xe9matome vs he\\u0301matome", "write each class one way on every row")


def test_labels_that_differ_otherwise_are_still_classes(tmp_path):
    labels = ["0", "1", "10", "1.5", NFC, "hematome", "Hématome"] * 3
    assert sorted(set(read_label_csv(_csv(tmp_path, labels)).labels)) == sorted(set(labels))


def test_class_folders_named_in_unicode_nfc_and_nfd_are_refused_naming_both(tmp_path):
    for name, n in ((NFC, 6), (NFD, 5), ("normal", 6)):
        (tmp_path / name).mkdir()
        for i in range(n):
            Image.fromarray(np.full((8, 8), i, np.uint8), "L").save(tmp_path / name / f"{i}.png")
    assert len([d for d in tmp_path.iterdir()]) == 3  # two folders printing alike
    with pytest.raises(MedtrainError) as e:
        load_folder(tmp_path)
    _one_line(e, f"{tmp_path}: class folders '", "(6 images) and '", "(5 images) differ only in their Unicode",
              "move their images into one folder")


def test_a_run_on_a_csv_of_float_written_labels_exits_2_before_training(tmp_path, capsys):
    data = _csv(tmp_path, ["0", "1", "1.0"] * 10, images=True)
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--epochs", "1", "--no-progress", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "labels '1' (10 rows) and '1.0' (10 rows) are one number" in err, err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert not out.exists()
