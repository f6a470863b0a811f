"""Labels that look alike are one class to the user: a label column holding ``1`` and ``1.0`` (what a
spreadsheet writes for a float column), ``hématome`` composed on some rows and decomposed on others (Unicode
NFC and NFD, as macOS writes names), or ``normal`` and ``Normal``, is refused in one line naming the pair, not
trained as extra classes. A class named like a column of the prediction CSVs is refused too."""
import unicodedata

import numpy as np
import pytest
from PIL import Image

from medtrain._predictions_csv import write_predictions
from medtrain.cli import main
from medtrain.data import load_csv, load_folder
from medtrain.data._table_checks import RESERVED_COLUMNS, RESERVED_NUMBERED
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
    labels = ["0", "1", "10", "1.5", NFC, "hematome", "hématomes"] * 3
    assert sorted(set(read_label_csv(_csv(tmp_path, labels)).labels)) == sorted(set(labels))


def test_labels_that_differ_only_in_case_are_refused_naming_both(tmp_path):
    """A third of the 'normal' rows written 'Normal' had made a binary task a 3-class one, silently."""
    labels = ["normal"] * 8 + ["malignant"] * 6 + ["Normal"] * 4
    with pytest.raises(MedtrainError) as e:
        load_csv(_csv(tmp_path, labels, images=True))
    _one_line(e, "labels 'normal' (8 rows) and 'Normal' (4 rows) differ only in case",
              "would train as 2 classes", "write each class one way on every row")


def _folders(root, counts):
    for name, n in counts:
        (root / name).mkdir()
        for i in range(n):
            Image.fromarray(np.full((8, 8), i, np.uint8), "L").save(root / name / f"{i}.png")


def test_class_folders_that_differ_only_in_case_are_refused_naming_both(tmp_path):
    _folders(tmp_path, (("normal", 6), ("Normal", 5), ("malignant", 6)))
    with pytest.raises(MedtrainError) as e:
        load_folder(tmp_path)
    _one_line(e, f"{tmp_path}: class folders 'normal' (6 images) and 'Normal' (5 images) differ only in case",
              "move their images into one folder")


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


RESERVED = [*RESERVED_COLUMNS, "p0", "p1", "q1", "label0", "p12"]


@pytest.mark.parametrize("name", RESERVED)
def test_a_class_named_like_a_prediction_csv_column_is_refused_naming_it(tmp_path, name):
    """``predict`` wrote such a header twice (``input,prediction,correct,input,p1,prediction``): a reader
    took a probability for the file name or the predicted class."""
    with pytest.raises(MedtrainError) as e:
        read_label_csv(_csv(tmp_path, ["normal", name] * 5))
    _one_line(e, f"labels.csv: labels include the class '{name}', named like ", "prediction CSVs", "rename it")


def test_class_folders_named_like_a_prediction_csv_column_are_refused(tmp_path):
    _folders(tmp_path, (("input", 6), ("normal", 6)))
    with pytest.raises(MedtrainError) as e:
        load_folder(tmp_path)
    _one_line(e, f"{tmp_path}: class folders include the class 'input', named like the column 'input'", "rename it")


def test_names_that_only_resemble_prediction_csv_columns_are_classes(tmp_path):
    labels = ["Input", "P1", "p01", "pneumonia", "label", "q", "correctly", "p1a"] * 3
    assert sorted(set(read_label_csv(_csv(tmp_path, labels)).labels)) == sorted(set(labels))


def test_every_column_predictions_test_csv_writes_besides_the_classes_is_reserved(tmp_path):
    """With every optional column on (scaled scores, entropy, groups, operating point), a run's predictions
    file has no column a class could be named like without being refused."""
    scores = np.array([[0.2, 0.8], [0.9, 0.1]])
    write_predictions(tmp_path / "p.csv", np.array([1, 0]), scores, np.array([0.1, 0.2]), {"0": "a", "1": "b"},
                      "binary", scaled=scores, inputs=["x.png", "y.png"], operating_point=(0.5, 1),
                      groups=["g1", "g2"])
    head = (tmp_path / "p.csv").read_text().splitlines()[0].split(",")
    fixed = [h for h in head if h not in ("a", "b")]
    assert len(fixed) > 10 and all(h in RESERVED_COLUMNS or RESERVED_NUMBERED.fullmatch(h) for h in fixed), head


def test_a_run_on_a_class_named_prediction_exits_2_before_training(tmp_path, capsys):
    data = _csv(tmp_path, ["normal", "prediction"] * 10, images=True)
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--epochs", "1", "--no-progress", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "the class 'prediction'" in err and "rename it" in err, err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_a_class_folder_named_in_latin_1_is_one_line_naming_it(tmp_path):
    # an old archive's b'norm\xe1l' had trained until splits.csv was written: a UnicodeEncodeError traceback
    import os

    for name in (b"norm\xe1l", b"pneumonia"):
        folder = os.path.join(os.fsencode(tmp_path), name)
        os.makedirs(folder)
        for i in range(4):
            Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(os.fsdecode(os.path.join(folder, b"%d.png" % i)))
    with pytest.raises(MedtrainError, match=r"the name 'norm\\\\xe1l' is not UTF-8.*rename it"):
        load_folder(tmp_path)
