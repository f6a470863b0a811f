"""A ``--storage`` URL whose database driver is not installed is refused naming the driver SQLAlchemy tried and
the URL form that picks another (Optuna's "Failed to import DB access module ... Please install appropriate one."
had named neither), and without the URL's password."""
from __future__ import annotations

import sys

import pytest

from medtrain.cli import main
from medtrain.errors import MedtrainError
from medtrain.tune.study import connect


@pytest.fixture
def no_postgres_driver(monkeypatch):
    for module in ("psycopg", "psycopg2"):  # an import of either fails, whether or not it is installed here
        monkeypatch.setitem(sys.modules, module, None)


def test_the_missing_driver_and_the_url_form_are_named(no_postgres_driver):
    with pytest.raises(MedtrainError) as e:
        connect("postgresql://me:secret@localhost/studies")
    msg = str(e.value)
    assert msg.startswith("--storage postgresql://me:***@localhost/studies: cannot open the study database")
    assert "driver psycopg" in msg and "pip install psycopg" in msg and "postgresql+psycopg" in msg
    assert "secret" not in msg and "appropriate one" not in msg


def test_tune_refuses_it_in_one_line_and_writes_nothing(tiny_npz, tmp_path, capsys, no_postgres_driver):
    out = tmp_path / "tune"
    assert main(["tune", "--data", str(tiny_npz), "--trials", "1", "--storage", "postgresql://me@localhost/s",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "driver psycopg" in err and "postgresql+psycopg" in err
    assert not out.exists()
