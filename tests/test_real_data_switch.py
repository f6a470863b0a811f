"""MEDTRAIN_REQUIRE_DATA=1 turns a missing real-data file from a skip into a failure (CI sets it)."""
import pytest

from conftest import data_dirs, find_real_data


def test_missing_real_data_skips_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("MEDTRAIN_REQUIRE_DATA", raising=False)
    with pytest.raises(pytest.skip.Exception, match="REAL DATA ABSENT: pneumoniamnist.npz"):
        find_real_data("pneumoniamnist.npz", [tmp_path / "nowhere"])


@pytest.mark.parametrize("value", ["1", "true"])
def test_missing_real_data_fails_when_required(tmp_path, monkeypatch, value):
    monkeypatch.setenv("MEDTRAIN_REQUIRE_DATA", value)
    with pytest.raises(pytest.fail.Exception, match="MEDTRAIN_REQUIRE_DATA=1"):
        find_real_data("pneumoniamnist.npz", [tmp_path / "nowhere"])


def test_medtrain_data_is_searched_before_shared_data(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.npz").write_bytes(b"")
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "a"))
    monkeypatch.setenv("MEDTRAIN_REQUIRE_DATA", "1")
    assert data_dirs()[0] == tmp_path / "a"
    assert find_real_data("x.npz") == tmp_path / "a"
