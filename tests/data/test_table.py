"""One label CSV reader and one stratified split for every on-disk loader (2D images and volumes)."""
import warnings

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from medtrain.data import load_csv
from medtrain.data.split import encode_labels, label_order, stratified_split
from medtrain.data.table import MissingLabelWarning, read_label_csv
from medtrain.data.volumes import load_volume_folder
from medtrain.errors import MedtrainError

LABELS = ["tumour", "cyst", "normal"]


def _listing(tmp_path, n=30, split_column=False):
    """The same CSV rows twice: once naming PNG images, once NIfTI volumes; entry i carries i+1 bright pixels."""
    header = "path,label" + (",split" if split_column else "")
    rows2d, rows3d = [header], [header]
    for i in range(n):
        flat = np.zeros(64, np.uint8)
        flat[: i + 1] = 255
        Image.fromarray(flat.reshape(8, 8), "L").save(tmp_path / f"e{i}.png")
        volume = flat.reshape(4, 4, 4).astype(np.float32) * 4
        nib.save(nib.Nifti1Image(volume, np.eye(4)), str(tmp_path / f"e{i}.nii.gz"))
        label = LABELS[i % 3] if i % 7 else "cyst"
        tail = "," + ("train", "val", "test", "train")[i % 4] if split_column else ""
        rows2d.append(f"e{i}.png,{label}{tail}")
        rows3d.append(f"e{i}.nii.gz,{label}{tail}")
    (tmp_path / "images.csv").write_text("\n".join(rows2d) + "\n")
    (tmp_path / "volumes.csv").write_text("\n".join(rows3d) + "\n")
    return tmp_path / "images.csv", tmp_path / "volumes.csv"


def _entries(split):
    """Which rows a split holds (entry i has i+1 voxels at 255), with their labels."""
    counts = (split.images.reshape(len(split), -1) == 255).sum(1) - 1
    return sorted(zip(counts.tolist(), split.labels.tolist()))


@pytest.mark.parametrize("split_column", [False, True])
def test_same_csv_listing_gives_same_split_and_label_order_for_images_and_volumes(tmp_path, split_column):
    images_csv, volumes_csv = _listing(tmp_path, split_column=split_column)
    kw = dict(val_fraction=0.2, test_fraction=0.3, seed=7)
    two = load_csv(images_csv, **kw)
    three = load_volume_folder(tmp_path, volumes_csv, size=4, cache_dir=tmp_path / "cache", **kw)
    assert two.label_names == three.label_names == {"0": "cyst", "1": "normal", "2": "tumour"}
    for part in ("train", "val", "test"):
        assert _entries(two.split(part)) == _entries(three.split(part))
        assert len(two.split(part)) > 0
    if split_column:  # the column is obeyed: row i goes to ("train", "val", "test", "train")[i % 4]
        assert [i for i, _ in _entries(two.val)] == list(range(1, 30, 4))
    else:  # and otherwise the split is seeded: another seed moves rows
        other = load_csv(images_csv, val_fraction=0.2, test_fraction=0.3, seed=8)
        assert _entries(other.test) != _entries(two.test)


def test_labels_are_numbered_in_sorted_order_numerically_for_integers():
    assert label_order(["b", "a", "c", "a"]) == ["a", "b", "c"]
    assert label_order(["10", "2", "0"]) == ["0", "2", "10"]  # not "0", "10", "2"
    assert label_order(["1", "x"]) == ["1", "x"]
    y, names = encode_labels(["2", "10", "2"])
    assert y.tolist() == [0, 1, 0] and names == {"0": "2", "1": "10"}


def test_header_columns_may_come_in_any_order_and_header_is_optional(tmp_path):
    (tmp_path / "a.csv").write_text("label,split,path\ncat,val,x.png\ndog,train,y.png\n")
    t = read_label_csv(tmp_path / "a.csv")
    assert (t.paths, t.labels, t.splits) == (["x.png", "y.png"], ["cat", "dog"], ["val", "train"])
    (tmp_path / "b.csv").write_text("# comment\nx.png,cat\n\ny.png,dog\n")
    t = read_label_csv(tmp_path / "b.csv")
    assert (t.paths, t.labels, t.splits) == (["x.png", "y.png"], ["cat", "dog"], None)


@pytest.mark.parametrize("text, message", [
    ("path,label,splt\nx.png,a,train\n", "header must name the columns path,label.*did you mean split for splt"),
    ("path,label,patiend\nx.png,a,P1\n", "did you mean patient for patiend"),
    ("path,label,fold\nx.png,a,1\n", "header column 'fold' is not read: medtrain deals cross-validation folds"),
    ("path,label\nx.png\n", "line 2 has 1 columns, its header 2"),
    ("x.png\n", "line 1 must be path,label"),
    ("path,label,split\nx.png,a,train\ny.png,b,holdout\n", "line 3 has split 'holdout'"),
    ("x.png,a,train\ny.png,b\n", "some rows have a split and some do not"),
    ("path,label\n", "no rows"),
    ("path,label\nx.png,\n", "line 2 has an empty label"),
])
def test_malformed_csv_is_one_error_naming_the_file(tmp_path, text, message):
    (tmp_path / "l.csv").write_text(text)
    with pytest.raises(MedtrainError, match=message) as e:
        read_label_csv(tmp_path / "l.csv")
    assert "l.csv" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("text, message", [
    # a comment and a blank line above the header, a blank line between rows: each counts, as in an editor
    ("# exported 2024\n\npath,label\na.png,cyst\n\nb.png,\n", "line 6 has an empty label"),
    ("# exported 2024\n\npath,label\na.png,cyst\n\nb.png\n", "line 6 has 1 columns, its header 2"),
    ("path,label,split\na.png,cyst,train\n# checked\nb.png,cyst,holdout\n", "line 4 has split 'holdout'"),
    ("path,label\na.png,cyst\n\nb.png,cyst\na.png,tumour\n", "a.png is listed twice (lines 2 and 5)"),
    ("# exported 2024\nimage,diagnosis\na.png,cyst\nb.png,tumour\n", "line 2 (image,diagnosis) looks like a header"),
    ("path,label,split,patient\na.png,0,train,P1\n\nb.png,1,test,P1\n",
     "lines 2 and 4 are the same patient but in splits train and test"),
])
def test_errors_name_a_row_by_its_line_in_the_file_as_an_editor_numbers_it(tmp_path, text, message):
    """The header is line 1, the first row under it line 2; rows had been counted without the header (and
    without blank and comment lines), so a spreadsheet user went to the wrong line."""
    (tmp_path / "l.csv").write_text(text)
    with pytest.raises(MedtrainError) as e:
        read_label_csv(tmp_path / "l.csv")
    assert message in str(e.value), str(e.value)


def test_stratified_split_is_per_class_seeded_and_keeps_a_training_example_per_class():
    y = np.array([0] * 20 + [1] * 10 + [2] * 1)
    a = stratified_split(y, 0.2, 0.3, seed=3)
    assert [(a[y == c] == part).sum() for c in (0, 1) for part in (0, 1, 2)] == [10, 4, 6, 5, 2, 3]
    assert a[y == 2].tolist() == [0]  # a lone example stays in train
    assert (stratified_split(y, 0.2, 0.3, seed=3) == a).all()
    assert not (stratified_split(y, 0.2, 0.3, seed=4) == a).all()
    with pytest.raises(MedtrainError, match="val_fraction and test_fraction"):
        stratified_split(y, 0.6, 0.5, seed=0)


def test_names_the_file_system_cannot_look_up_are_missing_entries_not_os_errors(tmp_path):
    # found by the fuzz tests: Path.is_file() raises OSError (ENAMETOOLONG) for a 300-character name
    (tmp_path / "l.csv").write_text("path,label\n" + "x" * 300 + ".png,a\ny.png,b\n")
    with pytest.raises(MedtrainError, match="image not found"):
        load_csv(tmp_path / "l.csv")
    with pytest.raises(MedtrainError, match="not found"):
        load_volume_folder(tmp_path, tmp_path / "l.csv", cache_dir=tmp_path / "cache")


def test_a_quoted_cell_with_a_line_break_is_refused_so_errors_stay_one_line(tmp_path):
    (tmp_path / "l.csv").write_text('path,label\n"a\nb.png",x\n')
    with pytest.raises(MedtrainError, match="line 2 has a line break inside a cell") as e:
        read_label_csv(tmp_path / "l.csv")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("content, encoding, message", [
    # a spreadsheet's other separators: the message says what was probably meant
    ("path;label\na.png;cyst\nb.png;tumour\n", "utf-8", "line 1 must be path,label[,split], got 1 columns "
                                                       "(separated by ';'? columns are separated by commas)"),
    ("a.png\tcyst\nb.png\ttumour\n", "utf-8", "got 1 columns (separated by tabs?"),
    # a header medtrain does not know was read as a first row naming the image 'image'
    ("image,diagnosis\na.png,cyst\nb.png,tumour\n", "utf-8", "line 1 (image,diagnosis) looks like a header but "
                                                            "does not name the columns path,label"),
    ("path,label\nl\xe9sion.png,cyst\n", "latin-1", "not UTF-8 text; save it as 'CSV UTF-8'"),
])
def test_csv_mistakes_are_named(tmp_path, content, encoding, message):
    (tmp_path / "labels.csv").write_bytes(content.encode(encoding))
    with pytest.raises(MedtrainError) as e:
        read_label_csv(tmp_path / "labels.csv")
    assert message in str(e.value) and str(e.value).startswith(str(tmp_path / "labels.csv") + ": ")


def test_rows_of_series_folders_without_a_suffix_are_not_taken_for_a_header(tmp_path):
    (tmp_path / "labels.csv").write_text("series1,0\nseries2,1\n")  # DICOM series folders have no suffix
    assert read_label_csv(tmp_path / "labels.csv").paths == ["series1", "series2"]


def test_a_spreadsheet_export_with_the_users_own_columns_is_read(tmp_path):
    # age, sex, view: what a clinical export holds beside path and label; they were refused
    (tmp_path / "l.csv").write_text("id,path,age,label,sex,patient_id,view\n1,a.png,63,cyst,F,P1,PA\n"
                                    "2,b.png,58,tumour,M,P2,AP\n3,c.png,71,cyst,F,P1,PA\n")
    t = read_label_csv(tmp_path / "l.csv")
    assert (t.paths, t.labels, t.splits) == (["a.png", "b.png", "c.png"], ["cyst", "tumour", "cyst"], None)
    assert t.groups[0] == t.groups[2] != t.groups[1]  # the patient column still groups the rows
    (tmp_path / "m.csv").write_text("path,label,age\na.png,cyst\n")
    with pytest.raises(MedtrainError, match="line 2 has 2 columns, its header 3"):
        read_label_csv(tmp_path / "m.csv")  # a row shorter than its header is still an error


def test_with_a_group_column_in_use_columns_named_like_one_are_the_users(tmp_path):
    (tmp_path / "l.csv").write_text("path,label,case,age,subject id\na.png,cyst,C1,63,S9\nb.png,tumour,C2,58,S8\n")
    t = read_label_csv(tmp_path / "l.csv", group_column="case")
    assert t.paths == ["a.png", "b.png"] and t.groups[0] != t.groups[1]
    with pytest.raises(MedtrainError, match="did you mean subject for subject id"):
        read_label_csv(tmp_path / "l.csv")  # without one, 'subject id' may be the patient column misnamed


def test_labels_that_read_like_a_missing_value_are_warned_of_but_kept(tmp_path):
    """A spreadsheet's NaN / NA / #N/A had trained as a class, silently; a class may be named None or NA,
    so it is a warning, one line per marker, not an error."""
    (tmp_path / "l.csv").write_text("path,label\na.png,cyst\nb.png,NaN\nc.png,tumour\nd.png,NaN\ne.png,None\n")
    with pytest.warns(MissingLabelWarning) as caught:
        t = read_label_csv(tmp_path / "l.csv")
    assert t.labels == ["cyst", "NaN", "tumour", "NaN", "None"]
    assert [str(w.message).split(": ", 1)[1] for w in caught] == [
        "2 rows (lines 3, 5) have the label 'NaN', which spreadsheets and pandas write for a missing value; "
        "it trains as a class of its own: label or remove those rows unless 'NaN' is a class",
        "1 row (line 6) has the label 'None', which spreadsheets and pandas write for a missing value; "
        "it trains as a class of its own: label or remove those rows unless 'None' is a class"]
    (tmp_path / "m.csv").write_text("path,label\na.png,nano\nb.png,naevus\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingLabelWarning)
        read_label_csv(tmp_path / "m.csv")
