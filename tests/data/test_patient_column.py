"""The patient column of a label CSV: every name medtrain's header messages offer for it groups the rows (a column
named ``group``, as the message named it, had been ignored: 68 of 143 patients split across train, val and test,
silently), and a placeholder ID on an implausible share of the rows (``unknown`` for a missing one) is said in one
line (read as one patient, it had made the test split 2 "patients", silently)."""
import re
import warnings

import numpy as np
import pytest

from medtrain.data._quiet import said_when_trained
from medtrain.data.split import assign_splits
from medtrain.data.table import LargeGroupWarning, group_hash, read_label_csv
from medtrain.errors import MedtrainError


def _write(path, header: str, rows: list[str]):
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _offered(message: str) -> list[str]:
    """The group columns a header message names: ``path,label[,split][,a|b|c]``."""
    found = re.search(r"path,label\[,split\]\[,([^\]]+)\]", message)
    assert found, message
    return found[1].split("|")


def _messages(tmp_path) -> list[str]:
    """The two header messages: a near-miss header, and a header medtrain does not know."""
    said = []
    for text in ("path,label,patientid\na.png,0,P1\nb.png,1,P2\n", "image,diagnosis\na.png,0\nb.png,1\n"):
        with pytest.raises(MedtrainError) as e:
            (tmp_path / "bad.csv").write_text(text)
            read_label_csv(tmp_path / "bad.csv")
        said.append(str(e.value))
    return said


def test_every_patient_column_the_header_messages_name_keeps_each_patients_images_in_one_split(tmp_path):
    first, second = _messages(tmp_path)
    assert "did you mean patient_id for patientid?" in first
    names = _offered(first)
    assert _offered(second) == names and "group" in names  # the name medtrain's own files give the column
    y = np.repeat([p % 2 for p in range(30)], 4)  # 30 patients of 4 images
    for name in names:
        t = read_label_csv(_write(tmp_path / f"{name}.csv", f"path,label,{name}",
                                  [f"{i}.png,{y[i]},P{i // 4:02d}" for i in range(120)]))
        assert t.groups == [group_hash(f"P{i // 4:02d}") for i in range(120)], name
        a = assign_splits(y, None, 0.1, 0.2, 0, t.groups)
        assert all(len(set(a[i:i + 4])) == 1 for i in range(0, 120, 4)), name  # no patient in two splits


def test_a_patient_column_beside_a_column_named_group_is_the_one_read(tmp_path):
    # a 'group' beside patient_id (a cohort, a study arm) is the user's: the patient column groups the rows
    t = read_label_csv(_write(tmp_path / "l.csv", "path,label,group,patient_id",
                              ["a.png,0,arm A,P1", "b.png,1,arm A,P2", "c.png,1,arm B,P1"]))
    assert t.groups == [group_hash("P1"), group_hash("P2"), group_hash("P1")]


def _placeholder_csv(tmp_path, placeholder: str = "unknown"):
    """75 patients of 2 images, then 40 rows of both classes whose ID is ``placeholder`` (21% of the 190)."""
    rows = [f"p{i}.png,{i // 2 % 2},P{i // 2:02d}" for i in range(150)]
    rows += [f"u{i}.png,{i % 2},{placeholder}" for i in range(40)]
    return _write(tmp_path / "site.csv", "path,label,patient_id", rows)


def test_a_placeholder_id_on_a_fifth_of_the_rows_is_said_in_one_line(tmp_path):
    with pytest.warns(LargeGroupWarning) as caught:
        t = read_label_csv(_placeholder_csv(tmp_path))
    (w,) = [w for w in caught if issubclass(w.category, LargeGroupWarning)]
    msg = str(w.message)
    assert "\n" not in msg and msg.startswith(f"{tmp_path / 'site.csv'}: patient_id 'unknown' is on 40 of the 190 "
                                              "rows (21%), 20 times as many as the median patient_id (2)")
    assert "placeholder for a missing ID" in msg and "one patient" in msg
    assert len(set(t.groups)) == 76  # still read as written: a warning, since a patient may have that many images
    with warnings.catch_warnings():  # said once: not again where a run's own data are read again (eval, export)
        warnings.simplefilter("error", LargeGroupWarning)
        with said_when_trained():
            read_label_csv(_placeholder_csv(tmp_path))


@pytest.mark.parametrize("sizes", [
    [30] * 6,  # few patients of many images each: every one a sixth of the rows
    [2] * 100 + [12],  # a patient of 12 images among 100 of 2: 6% of the rows
    [10, 10, 10, 40, 40],  # a large share, but 4x the median patient
])
def test_patients_of_plausible_sizes_are_not_warned_of(tmp_path, sizes):
    rows = [f"{p}_{i}.png,{(p + i) % 2},P{p}" for p, n in enumerate(sizes) for i in range(n)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", LargeGroupWarning)
        read_label_csv(_write(tmp_path / "l.csv", "path,label,patient", rows))
