"""A --storage URL's password is never printed, even where SQLAlchemy cannot parse the URL (a port that is not a
number): the refusal line and the search's report.html had shown ``postgresql://user:secret@host:notaport/db``
as given."""
from __future__ import annotations

import pytest

from medtrain.tune.report import _shown_storage
from medtrain.tune.storage_errors import unusable

BAD = ["postgresql://user:secret@host:notaport/db", "mysql+pymysql://admin:s3cr:et@db.example:x/optuna",
       "postgresql://user:p@secret@host:bad/db"]


@pytest.mark.parametrize("url", BAD)
def test_an_unparsable_urls_password_is_masked_in_the_refusal_and_the_report(url):
    line = str(unusable(url, "open", OSError("could not connect")))
    assert "secret" not in line and "s3cr" not in line and "et@" not in line
    assert "***@" in line and line.startswith("--storage ") and "could not connect" in line
    shown = _shown_storage(url)
    assert "secret" not in shown and "s3cr" not in shown and "***@" in shown
    assert shown.split("***@")[1] == url.rsplit("@", 1)[1]  # the host, port and database stay readable


def test_a_url_without_a_password_is_shown_whole():
    for url in ("postgresql://user@host:notaport/db", "sqlite:///study.db"):
        assert _shown_storage(url) == url and url in str(unusable(url, "open", OSError("x")))
