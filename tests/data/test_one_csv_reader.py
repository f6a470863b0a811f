"""One CSV reader: a CSV that training reads (:func:`medtrain.data.table.read_label_csv`) is read by ``predict``
and ``explain`` (:func:`medtrain.predict_inputs.iter_inputs`) as the same images in the same order, its rows
numbered alike; a CSV that training refuses as unreadable is refused by predict for the same reason. Both go
through :mod:`medtrain.data.table`, the CSV's one owner."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import medtrain.predict_inputs
from medtrain.data.input_csv import read_path_column
from medtrain.data.table import read_label_csv
from medtrain.errors import MedtrainError
from medtrain.predict_inputs import iter_inputs

FILES = ("a.png", "b.png", "a,1.png", "b, 2.png")

READ_ALIKE = {
    "a byte-order mark": "\ufeffpath,label\nimgs/a.png,x\nimgs/b.png,y\n",
    "a byte-order mark and no header": "\ufeffimgs/b.png,y\nimgs/a.png,x\n",
    "no header": "imgs/b.png,y\nimgs/a.png,x\n",
    "comment lines": "# exported by the PACS\npath,label\n# a note\nimgs/a.png,x\n  # indented\nimgs/b.png,y\n",
    "blank lines": "\npath,label\n\nimgs/b.png,y\n , \n\nimgs/a.png,x\n\n",
    "quoted paths with commas": 'path,label\n"imgs/a,1.png",x\n"imgs/b, 2.png",y\n',
    "the path column not first": "label,split,path\nx,train,imgs/b.png\ny,test,imgs/a.png\n",
    "Windows paths": "path,label\nimgs\\b.png,y\nimgs\\a.png,x\n",
    "Windows line ends": "path,label\r\nimgs/a.png,x\r\nimgs/b.png,y\r\n",
    "spaces around cells": "path , label\n  imgs/a.png , x\n imgs/b.png,y\n",
}

REFUSED_ALIKE = {  # what both readers say, whatever else each adds
    "a ';' separator": (b"path;label\nimgs/a.png;x\nimgs/b.png;y\n", "line 1|row 1", "';'"),
    "tabs": (b"path\tlabel\nimgs/a.png\tx\n", "line 1|row 1", "tabs"),
    "an unclosed quote": (b'path,label\nimgs/a.png,"x\nimgs/b.png,y\n', "line 2", "line break inside a cell"),
    "a line break in a path": (b'path,label\n"imgs/a\nb.png",x\nimgs/b.png,y\n', "line 2",
                               "line break inside a cell"),
    "Latin-1 text": ("path,label\nl\xe9sion.png,x\n".encode("latin-1"), None, "not UTF-8 text; save it as 'CSV UTF-8'"),
}


def _write(tmp_path: Path, content) -> Path:
    (tmp_path / "imgs").mkdir(exist_ok=True)
    for name in FILES:
        (tmp_path / "imgs" / name).write_bytes(b"")
    csv_path = tmp_path / "list.csv"
    csv_path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return csv_path


def _predicted_names(csv_path: Path) -> list[str]:
    """The inputs predict lists from a CSV (nothing is decoded: items are lazy, so no run is needed)."""
    return [item.name for item in iter_inputs([csv_path], run=None)]


@pytest.mark.parametrize("case", list(READ_ALIKE))
def test_predict_reads_a_training_csv_as_the_same_images_in_the_same_order(tmp_path, case):
    csv_path = _write(tmp_path, READ_ALIKE[case])
    table = read_label_csv(csv_path)
    trained = [str(p) for p in table.resolve()]
    assert len(trained) == 2 and all(Path(p).is_file() for p in trained)
    assert _predicted_names(csv_path) == trained
    listed = read_path_column(csv_path)
    assert [str(p) for _, p in listed] == trained
    assert [line for line, _ in listed] == table.lines  # rows are named by the same line numbers


@pytest.mark.parametrize("case", list(REFUSED_ALIKE))
def test_a_csv_training_refuses_as_unreadable_is_refused_by_predict_for_the_same_reason(tmp_path, case):
    content, where, why = REFUSED_ALIKE[case]
    csv_path = _write(tmp_path, content)
    with pytest.raises(MedtrainError, match=where) as trained:
        read_label_csv(csv_path)
    with pytest.raises(MedtrainError, match=where) as predicted:
        _predicted_names(csv_path)
    for e in (trained.value, predicted.value):
        assert str(e).startswith(f"{csv_path}: ") and why in str(e) and "\n" not in str(e)


def test_a_missing_image_is_named_by_its_line_in_the_file(tmp_path):
    csv_path = _write(tmp_path, "# exported\n\npath\nimgs/a.png\nimgs/nope.png\n")
    items = list(iter_inputs([csv_path], run=None))
    assert [i.name for i in items] == [str(tmp_path / "imgs" / n) for n in ("a.png", "nope.png")]
    with pytest.raises(MedtrainError, match=f"no such file.*\\(row 5 of {csv_path}\\)"):
        items[1].load()


def test_predict_inputs_reads_csvs_only_through_their_owner():
    """No second CSV parser, header rule or private table check in predict_inputs: data.table reads the CSV."""
    tree = ast.parse(Path(medtrain.predict_inputs.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "csv" not in imported
    assert not any(m.startswith("medtrain.data._") for m in imported if m)
