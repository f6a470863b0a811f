"""``explain --out`` and the inputs as the folder reader sees them: an input file given through a link
(``links/a.png -> scans/a.png``) lies in the link's folder, so ``--out links`` is refused as the folder holding an
input (it had been let through: only the target's folder was compared), and a hidden folder inside an input folder
(``scans/.explanations``) is written into, as the folder reader skips hidden folders (it had been refused, "would be
read as inputs"). A non-hidden folder inside it, or a link to the hidden one by a plain name, is still refused."""
from __future__ import annotations

import os

import pytest
from PIL import Image

from conftest import run_cli
from medtrain.explain import MAPS_FILE

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def scans(trained_run, tmp_path):
    _, _, arrays = trained_run
    folder = tmp_path / "scans"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(arrays["test_images"][i]).save(folder / f"s{i}.png")
    return folder


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
    assert _files(links) == ["a.png"] and _files(scans) == ["s0.png", "s1.png"]


def test_a_hidden_folder_inside_the_input_folder_is_written_and_not_read_back(trained_run, scans, capsys):
    run, _, _ = trained_run
    out = scans / ".explanations"
    for _ in range(2):  # the second explanation of the folder reads its 2 images, not the first's overlays
        code, printed, err = run_cli(capsys, "explain", run, scans, "--out", out)
        assert code == 0, err
        assert sorted(p.name for p in out.iterdir()) == ["0000_s0.png", "0001_s1.png", MAPS_FILE]
    assert sorted(p.name for p in scans.iterdir()) == [".explanations", "s0.png", "s1.png"]


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
