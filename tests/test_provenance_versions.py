"""The library versions a run records (``provenance.environment``) are the ones installed when it runs: a package
installed in a notebook's process after its first run is recorded by the next run, not as missing."""
from __future__ import annotations

import importlib
import importlib.metadata
import sys

from medtrain import provenance

MADE_UP = "medtrain-made-up-dist"  # a distribution no environment has


def test_a_package_installed_after_a_lookup_is_recorded_by_the_next_run(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))  # where `pip install` would put it (site-packages)
    assert provenance._version(MADE_UP) is None  # not installed yet
    info = tmp_path / "medtrain_made_up_dist-1.2.3.dist-info"  # what `%pip install` writes
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {MADE_UP}\nVersion: 1.2.3\n")
    assert provenance._version(MADE_UP) == "1.2.3"  # the lookup before had been kept: None for the process
    # not imported yet: upgraded before its import, the version installed is the one recorded
    info.rename(tmp_path / "medtrain_made_up_dist-1.3.0.dist-info")
    (tmp_path / "medtrain_made_up_dist-1.3.0.dist-info" / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {MADE_UP}\nVersion: 1.3.0\n")
    assert provenance._version(MADE_UP) == "1.3.0"


def test_an_imported_package_is_looked_up_once(monkeypatch):
    # an imported module is the one that runs whatever is installed later, and a lookup scans the environment's
    # metadata (~0.7 ms, 9 per run): numpy (imported) is read once, scikit-learn under its import name sklearn
    importlib.import_module("sklearn")
    assert "numpy" in sys.modules
    for name in ("numpy", "scikit-learn"):
        provenance._version(name)
    calls = []
    monkeypatch.setattr(importlib.metadata, "version", lambda name: calls.append(name) or "0")
    assert provenance._version("numpy") == importlib.metadata.distribution("numpy").version
    assert provenance._version("scikit-learn") == importlib.metadata.distribution("scikit-learn").version
    assert calls == []
