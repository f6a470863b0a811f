"""``explain --out`` never writes among files that are not explain's: it had written its overlays and maps.npz into
the run folder given as --out (beside the run's own PNGs and reports), into the image folder it explained (whose
next explanation then read the overlays as inputs: "0000_0000_a0.png: 3 channel(s), but the model takes 1") and
over a user's own file of an overlay's name. Refused in one line, exit 2, before any work, nothing written; a folder
of its own (inside a run's too) and an earlier explanation's folder are written as before."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from medtrain.errors import MedtrainError
from medtrain.explain import MAPS_FILE, explain
from medtrain.explain.write import INDEX_FILE

pytestmark = pytest.mark.usefixtures("one_thread")


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def scans(trained_run, tmp_path):
    _, _, arrays = trained_run
    folder = tmp_path / "scans"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(arrays["test_images"][i]).save(folder / f"s{i}.png")
    return folder


def _refused(capsys, *argv) -> str:
    code, out, err = run_cli(capsys, "explain", *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_the_run_folder_is_refused_and_left_as_it_was(trained_run, capsys):
    run, _, _ = trained_run
    before = _snapshot(run)
    err = _refused(capsys, run, "--limit", "1", "--out", run)
    assert "is a run folder" in err and f"{run}/explanations" in err
    assert _snapshot(run) == before


def test_another_run_folder_is_refused_too(trained_run, scans, capsys):
    run, _, _ = trained_run
    before = _snapshot(run)
    assert "is a run folder" in _refused(capsys, run, scans / "s0.png", "--out", run)
    assert _snapshot(run) == before


@pytest.mark.parametrize("sub", ["", "maps"])
def test_an_input_folder_or_one_inside_it_is_refused(trained_run, scans, capsys, sub):
    run, _, _ = trained_run
    before = _snapshot(scans)
    err = _refused(capsys, run, scans, "--out", scans / sub if sub else scans)
    assert f"input folder {scans}" in err and "read as inputs" in err
    assert _snapshot(scans) == before and not (scans / "maps").exists()


def test_the_folder_of_an_input_file_is_refused(trained_run, scans, capsys):
    run, _, _ = trained_run
    before = _snapshot(scans)
    err = _refused(capsys, run, scans / "s1.png", "--out", scans)
    assert f"holds the input {scans / 's1.png'}" in err
    assert _snapshot(scans) == before


def test_the_runs_own_data_folder_is_refused_without_inputs(trained_run):
    run, data, _ = trained_run
    before = _snapshot(data.parent)
    with pytest.raises(MedtrainError, match="holds the input"):
        explain(run, limit=1, out=data.parent)
    assert _snapshot(data.parent) == before


def test_a_users_file_of_an_overlays_name_is_never_overwritten(trained_run, scans, tmp_path, capsys):
    run, _, _ = trained_run
    out = tmp_path / "mine"
    out.mkdir()
    (out / "0000_s0.png").write_bytes(b"my own picture")
    (out / "notes.txt").write_text("mine")
    before = _snapshot(out)
    err = _refused(capsys, run, scans / "s0.png", scans / "s1.png", "--out", out)
    assert f"{out / '0000_s0.png'} is not an overlay of an earlier explanation" in err
    assert _snapshot(out) == before and not list(out.glob(".*"))


def test_a_users_maps_npz_is_never_overwritten(trained_run, scans, tmp_path, capsys):
    run, _, _ = trained_run
    out = tmp_path / "mine"
    out.mkdir()
    np.savez(out / MAPS_FILE, weights=np.arange(3))
    before = _snapshot(out)
    assert "is not an explanation" in _refused(capsys, run, scans / "s0.png", "--out", out)
    assert _snapshot(out) == before


def test_a_folder_of_its_own_even_inside_the_run_is_written_and_written_again(trained_run, scans, capsys):
    run, _, _ = trained_run
    out = run / "explanations"
    try:
        for inputs in ([scans / "s0.png", scans / "s1.png"], [scans / "s2.png"]):
            code, _, err = run_cli(capsys, "explain", run, *inputs, "--out", out)
            assert code == 0, err
        assert sorted(p.name for p in out.iterdir()) == ["0000_s2.png", INDEX_FILE, MAPS_FILE]
    finally:
        import shutil
        shutil.rmtree(out, ignore_errors=True)  # the run is shared by other tests


# An input given through a link, and a hidden folder inside an input folder:
# ``explain --out`` and the inputs as the folder reader sees them: an input file given through a link
# (``links/a.png -> scans/a.png``) lies in the link's folder, so ``--out links`` is refused as the folder holding an
# input (it had been let through: only the target's folder was compared), and a hidden folder inside an input folder
# (``scans/.explanations``) is written into, as the folder reader skips hidden folders (it had been refused, "would be
# read as inputs"). A non-hidden folder inside it, or a link to the hidden one by a plain name, is still refused.

def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_the_folder_of_a_linked_input_file_is_refused(trained_run, scans, tmp_path, capsys):
    run, _, _ = trained_run
    links = tmp_path / "links"
    links.mkdir()
    os.symlink(scans / "s0.png", links / "a.png")
    for out in (links, scans):  # the link's own folder, and (as before) the folder of the file it links to
        code, printed, err = run_cli(capsys, "explain", run, links / "a.png", "--out", out)
        assert code == 2 and printed == "" and len(err.strip().splitlines()) == 1
        assert f"--out {out} holds the input {links / 'a.png'}" in err
    assert _files(links) == ["a.png"] and _files(scans) == ["s0.png", "s1.png", "s2.png"]


def test_a_hidden_folder_inside_the_input_folder_is_written_and_not_read_back(trained_run, scans, capsys):
    run, _, _ = trained_run
    out = scans / ".explanations"
    for _ in range(2):  # the second explanation of the folder reads its 3 images, not the first's overlays
        code, printed, err = run_cli(capsys, "explain", run, scans, "--out", out)
        assert code == 0, err
        assert sorted(p.name for p in out.iterdir()) == ["0000_s0.png", "0001_s1.png", "0002_s2.png", INDEX_FILE,
                                                      MAPS_FILE]
    assert sorted(p.name for p in scans.iterdir()) == [".explanations", "s0.png", "s1.png", "s2.png"]


@pytest.mark.parametrize("sub", ["plain", "linked"])
def test_a_plain_folder_inside_it_is_still_refused(trained_run, scans, capsys, sub):
    """``scans/plain`` is read as inputs; so is ``scans/linked -> .hidden``, walked by its plain name."""
    run, _, _ = trained_run
    if sub == "linked":
        (scans / ".hidden").mkdir()
        os.symlink(".hidden", scans / sub)
    before = _files(scans)
    code, _, err = run_cli(capsys, "explain", run, scans, "--out", scans / sub)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"--out {scans / sub} is inside the input folder {scans}" in err and "read as inputs" in err
    assert _files(scans) == before
