"""The RandAugment grid decides its candidates' flips as a tune study does: with a pinned TTA that flips the test
images, flips stay on without pilots (its own copy of the decision had let pilots choose flips off, and every
candidate trained flip false with tta hflip, a combination ``train`` refuses, then printed a train command that
exits 2). With no flip in the base augmentation, ``augment search`` refuses in ``train``'s line, nothing trained and
no work folder left (every candidate had trained unflipped and been scored on flipped images)."""
from __future__ import annotations

import pytest

import medtrain.api
from conftest import run_cli
from medtrain import config as config_mod
from medtrain.policy_search import grid_flips
from medtrain.tune import flips


def test_a_pinned_flipping_tta_keeps_the_grids_flips_on_without_pilots(tiny_npz, tmp_path, monkeypatch):
    monkeypatch.setattr(flips, "fit", lambda *a, **k: pytest.fail("ran a pilot"))
    cfg = config_mod.resolve({"data": str(tiny_npz), "model": "resnet10_28_half", "tta": "hflip", "flip": "auto"})
    said = []
    assert grid_flips(cfg, ["flip", "shift"], 1, tmp_path, said.append) == {"flip": "true"}
    # in train's words for the decision (tta_keeps_flips' record), as tune says it; no pilots to skip (it had read
    # "decided once by kept for --tta hflip, ... (no pilot runs); flip: true or false in the config skips the pilots")
    assert said == ["augment search: flips on for every candidate (flip: true), kept for --tta hflip, which flips the "
                    "test images (no pilot runs)"]
    assert grid_flips(cfg, ["flip", "shift"], 1, tmp_path, said.append) == {"flip": "true"}  # again: its flip.json
    assert said[1] == said[0]


@pytest.mark.parametrize("method, flags", [("randaugment", ["--n-values", "1", "--m-values", "5"]),
                                           ("autoaugment", ["--trials", "2"])])
def test_augment_search_refuses_a_flipping_tta_with_no_flip_in_the_base(tiny_npz, tmp_path, capsys, monkeypatch,
                                                                        method, flags):
    monkeypatch.setattr(medtrain.api, "train", lambda *a, **k: pytest.fail("a candidate trained"))
    monkeypatch.setattr(flips, "fit", lambda *a, **k: pytest.fail("a flip pilot trained"))
    work, config = tmp_path / "work", tmp_path / "c.yaml"
    config.write_text("tta: hflip\n")  # (augment search takes the TTA from a config file)
    code, _, err = run_cli(capsys, "augment", "search", "--config", config, "--data", tiny_npz, "--model",
                           "resnet10_28_half", "--accelerator", "cpu", "--budget-epochs", 1, "--method", method,
                           "--base-augment", "shift", *flags, "--work-dir", work, "--out", tmp_path / "p.yaml")
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [
        "medtrain: error: --tta hflip flips the test images, but --augment shift has no flip: the network would be "
        "scored on flipped images it never saw; add flip to --augment, give --tta none or shift, or --flip true to "
        "flip the test images anyway"], err
    assert not work.exists() and not (tmp_path / "p.yaml").exists()


def _files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("record", [None, {"chosen": True, "pinned": True, "no_pilots": True,
                                           "how": "kept for --tta hflip, which flips the test images (no pilot runs)"}])
def test_augment_search_refuses_it_up_front_in_an_old_work_folder(tiny_npz, tmp_path, capsys, monkeypatch, record):
    """A rerun in a work folder of an earlier search: its candidates each decided their flips (no flip.json), or
    flip.json pinned flips on (decided for a base with a flip). The same line, before any candidate or file: the
    folder without flip.json had been refused by its first new candidate, inside train, after its policy file was
    written; the one with flip.json had trained the candidates unflipped and scored them on flipped images."""
    import json

    from medtrain.rundir import CONFIG_FILE

    monkeypatch.setattr(flips, "fit", lambda *a, **k: pytest.fail("a flip pilot trained"))
    work, config = tmp_path / "work", tmp_path / "c.yaml"
    (work / "baseline").mkdir(parents=True)  # an earlier candidate (a run is a folder with its config written)
    (work / "baseline" / CONFIG_FILE).write_text("augment: [shift]\nflip: auto\n")
    if record is not None:
        (work / "flip.json").write_text(json.dumps(record))
    before = _files(work)
    config.write_text("tta: hflip\n")
    code, out, err = run_cli(capsys, "augment", "search", "--config", config, "--data", tiny_npz, "--model",
                             "resnet10_28_half", "--accelerator", "cpu", "--budget-epochs", 1, "--n-values", 1,
                             "--m-values", 5, "--no-baseline", "--base-augment", "shift", "--work-dir", work,
                             "--out", tmp_path / "p.yaml")
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [
        "medtrain: error: --tta hflip flips the test images, but --augment shift has no flip: the network would be "
        "scored on flipped images it never saw; add flip to --augment, give --tta none or shift, or --flip true to "
        "flip the test images anyway"], err
    assert out == ""  # refused before the search said how its flips are decided
    assert _files(work) == before and not (tmp_path / "p.yaml").exists()
