"""`medtrain cache` at its edges: a store whose lock file cannot be made is kept and named while the rest is cleared
(one line, exit 2, where nothing could be); a dry run lists exactly what the clear then removes, an interrupted
clear's leftovers included; MedicalNet weights live in the cache folder a run names (``data_dir``), where
``medtrain cache`` lists them; the cache folder is said in one wording (:data:`medtrain._io.cache.WHERE`) by each
--help and the README."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch

from medtrain._io import cache
from medtrain.cli import main
from medtrain.errors import MedtrainError

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def root(cache_root):
    r = cache_root
    for sub in ("store/ds-aaaa", "volumes", "store/.ds-old.del8082d.tmp", "arrays/" + "a" * 64):
        (r / sub).mkdir(parents=True)
    for f in ("store/ds-aaaa/f", "volumes/k1.npz", "store/.ds-old.del8082d.tmp/f",
              "arrays/" + "a" * 64 + "/arrays.npz"):
        (r / f).write_bytes(os.urandom(5000))
    (r / "volumes" / ".k0.npz.del1a2b3.tmp").write_bytes(os.urandom(3000))  # a file's leftover
    return r


def _lock_unmakeable(root):
    """The store's lock file cannot be made: a folder holds its name (O_CREAT of a folder: EISDIR). Portable, and
    it bites as root, where a read-only chmod would not; a read-only mount fails the same os.open (EROFS)."""
    (root / "store" / ".ds-aaaa.lock").mkdir()


def test_a_store_whose_lock_cannot_be_made_is_kept_and_named_and_the_rest_is_cleared(root, capsys):
    _lock_unmakeable(root)
    assert main(["cache", "clear", "all"]) == 0
    out = capsys.readouterr().out
    assert "could not remove store/ds-aaaa" in out and ".ds-aaaa.lock" in out and "Is a directory" in out, out
    assert "removed stores: 0 (1 could not be removed), volumes: 1" in out, out
    assert (root / "store" / "ds-aaaa" / "f").is_file()  # kept whole
    assert not (root / "volumes" / "k1.npz").exists()  # the rest cleared


def test_a_store_whose_lock_cannot_be_made_alone_is_one_line_exit_2(root, capsys):
    _lock_unmakeable(root)
    assert main(["cache", "clear", "stores"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("medtrain: error: "), err
    assert str(root / "store" / "ds-aaaa") in err and "Is a directory" in err and "Traceback" not in err
    with pytest.raises(MedtrainError, match="nothing of stores could be removed"):
        cache.clear(["stores"])
    assert (root / "store" / "ds-aaaa" / "f").is_file()


def _everything(root) -> set:
    return {str(p) for p in root.rglob("*")}


def _gone(before: set, root) -> set:
    """What was removed, as whole entries (the top-most path of each removed tree)."""
    gone = {p for p in before if not os.path.lexists(p)}
    return {p for p in gone if os.path.dirname(p) not in gone}


@pytest.mark.parametrize("kinds", [["volumes"], ["all"], ["arrays", "weights"]])
def test_a_dry_run_lists_exactly_what_the_clear_removes_leftovers_included(root, kinds):
    dry = cache.clear(kinds, dry_run=True)
    before = _everything(root)
    listed = {str(e.path) for e in dry.removed + dry.swept}
    assert {str(root / "store" / ".ds-old.del8082d.tmp"), str(root / "volumes" / ".k0.npz.del1a2b3.tmp")} <= listed
    assert _everything(root) == before  # a dry run removes nothing
    done = cache.clear(kinds)
    assert _gone(before, root) == listed
    assert dry.freed == done.freed and dry.leftovers == done.leftovers > 8000


def test_the_dry_run_output_names_each_leftover_and_counts_its_bytes(root, capsys):
    assert main(["cache", "clear", "volumes", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would remove an interrupted clear's leftover store/.ds-old.del8082d.tmp" in out, out
    assert "would remove an interrupted clear's leftover volumes/.k0.npz.del1a2b3.tmp" in out, out
    assert main(["cache", "clear", "volumes", "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert main(["cache", "clear", "volumes", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert sorted(x["path"] for x in dry["leftovers"]) == sorted(x["path"] for x in done["leftovers"])
    assert len(done["leftovers"]) == 2 and dry["freed_bytes"] == done["freed_bytes"]


def _medicalnet_file(path: Path) -> None:
    """A checkpoint in MedicalNet's form (``module.`` names under ``state_dict``), one small tensor of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {"module.conv1.weight": torch.ones(4, 1, 7, 7, 7)}}, path)


def test_medicalnet_weights_live_in_the_cache_folder_a_run_names(cache_root, tmp_path, monkeypatch, capsys):
    from medtrain.models import med3d
    from medtrain.models.pretrained import load_source

    other = tmp_path / "other-cache"  # --data-dir: not $MEDTRAIN_DATA (cache_root)
    urls = []

    def download(url, dest):
        urls.append(url)
        _medicalnet_file(dest)

    monkeypatch.setattr(med3d, "_download", download)
    src = load_source("medicalnet:10", data_dir=other)
    assert src.model == "med3d_resnet10" and "conv1.weight" in src.state and len(urls) == 1
    assert (other / "weights" / "resnet_10.pth").is_file() and not cache_root.exists()
    assert main(["cache", "list", "--json", "--data-dir", str(other)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["kinds"]["weights"]["count"] == 1 and listed["kinds"]["weights"]["bytes"] > 0
    load_source("medicalnet:10", data_dir=other)  # cached there: not fetched again
    assert len(urls) == 1
    assert med3d.download_medicalnet(10, data_dir=other) == cache.folder(cache.WEIGHTS, other) / "resnet_10.pth"


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("`", ""))


def test_the_cache_folder_is_said_in_one_wording_by_each_help_and_the_readme(cache_root, capsys):
    for argv in (["cache"], ["cache", "list"], ["cache", "clear"]):
        with pytest.raises(SystemExit):
            main([*argv, "--help"])
        assert cache.WHERE in _flat(capsys.readouterr().out), argv
    readme = _flat(README.read_text(encoding="utf-8"))
    assert cache.WHERE in readme
    # every place that names the default folder names it whole, in that wording
    assert readme.count("~/.cache/medtrain") == readme.count(cache.WHERE) > 0


def test_the_clear_help_names_every_kind_that_goes_only_when_named(cache_root, capsys):
    with pytest.raises(SystemExit):
        main(["cache", "clear", "--help"])
    out = _flat(capsys.readouterr().out)
    named_only = [k.name for k in cache.KINDS if not k.derived]
    assert f"{', '.join(named_only)} only when named" in out, out
