"""Only a dry run keeps each cache entry's folders (``Entry.folders``, what it asks the clear's questions of): a
listing (``medtrain cache``) and a real clear do not build that map of every folder of every entry (5,001 keys for
5,000 files each in a folder of its own) that nothing of theirs reads."""
from __future__ import annotations

import os

from medtrain._io import cache


def _fill(root):
    for i in range(3):
        (root / "store" / "ds-aaaa" / f"d{i}").mkdir(parents=True)
        (root / "store" / "ds-aaaa" / f"d{i}" / "f").write_bytes(os.urandom(100))


def test_a_listing_keeps_no_folders_and_a_dry_run_has_them(cache_root):
    _fill(cache_root)
    [listed] = cache.survey().entries[cache.STORES]
    assert listed.folders == {} and listed.bytes > 300  # sized all the same
    [dry] = cache.survey(folders=True).entries[cache.STORES]
    assert len(dry.folders) == 4 and sorted(map(os.path.basename, dry.folders[str(dry.path)])) == ["d0", "d1", "d2"]
    assert dry.bytes == listed.bytes


def test_a_clear_surveys_without_folders_and_its_dry_run_with_them(cache_root, monkeypatch):
    _fill(cache_root)
    asked = []
    survey = cache.survey
    monkeypatch.setattr(cache, "survey", lambda *a, **k: (asked.append(k.get("folders", False)), survey(*a, **k))[1])
    dry = cache.clear(["stores"], dry_run=True)
    assert [e.path.name for e in dry.removed] == ["ds-aaaa"] and dry.failed == []
    done = cache.clear(["stores"])
    assert asked == [True, False] and done.freed == dry.freed and not (cache_root / "store" / "ds-aaaa").exists()
