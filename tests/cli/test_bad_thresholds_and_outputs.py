"""Bad input to `augment show --out`, `advise`, `models --measure` and `cost`: one line, exit 2, nothing written
(a walkthrough found each accepted: a PNG corrupted on stdout, nan thresholds, an endless --budget inf, 0 as default).
"""
from __future__ import annotations

import struct
import zlib

import pytest

from medtrain.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("medtrain: error:"), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


def _chunks(png: bytes):
    """The (type, data) chunks of a PNG, each CRC checked: a byte appended after IEND or a text line in between
    fails here."""
    assert png[:8] == PNG_MAGIC
    pos, out = 8, []
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + data) == crc, kind
        out.append(kind)
        pos += 12 + length
    return out


def test_augment_show_to_stdout_writes_only_the_png(tiny_npz, capsysbinary):
    code = main(["augment", "show", "--data", str(tiny_npz), "--augment", "flip", "--draws", "2", "--n", "2",
                 "--out", "-"])
    cap = capsysbinary.readouterr()
    assert code == 0
    kinds = _chunks(cap.out)  # the whole of stdout is one PNG: its last chunk IEND, nothing after its CRC
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    assert b"wrote" in cap.err  # the message went to stderr


@pytest.mark.parametrize("name", ["grid.jpg", "notes.txt", "grid"])
def test_augment_show_refuses_a_name_not_ending_png_and_writes_nothing(tiny_npz, tmp_path, capsys, name):
    out = tmp_path / name
    if name == "notes.txt":
        out.write_text("my notes\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    code = main(["augment", "show", "--data", str(tiny_npz), "--augment", "flip", "--draws", "2", "--n", "2",
                 "--out", str(out)])
    assert code == 2
    _one_line_error(capsys, "--out", ".png")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if name == "notes.txt":
        assert out.read_text() == "my notes\n"  # the user's file is untouched


@pytest.mark.parametrize("flags,needle", [
    (["--similar-below", "nan"], "--similar-below"),
    (["--similar-below", "inf"], "--similar-below"),
    (["--similar-below", "1e309"], "--similar-below"),
    (["--similar-below", "-1"], "--similar-below"),
    (["--similar-below", "1.5"], "--similar-below"),
    (["--small-per-class", "-1"], "--small-per-class"),
    (["--small-per-class", "0"], "--small-per-class"),
])
def test_advise_refuses_meaningless_thresholds_before_any_work(tmp_path, capsys, flags, needle):
    # the source does not exist: a threshold checked up front is named, not the missing run
    code = main(["advise", "--source", str(tmp_path / "no-run"), "--target", "breastmnist", *flags])
    assert code == 2
    _one_line_error(capsys, needle)


def test_advise_checks_json_before_any_work(tmp_path, capsys):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    code = main(["advise", "--source", str(tmp_path / "no-run"), "--target", "breastmnist", "--json", str(folder)])
    assert code == 2
    _one_line_error(capsys, "--json", "folder")
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("budget", ["nan", "inf", "0", "-1"])
def test_models_measure_requires_a_finite_positive_budget(capsys, budget):
    assert main(["models", "--measure", "--names", "resnet18", "--budget", budget]) == 2
    _one_line_error(capsys, "--budget")


@pytest.mark.parametrize("flag", ["--input", "--in-chans", "--num-classes"])
@pytest.mark.parametrize("value", ["0", "-1"])
def test_cost_refuses_zero_as_it_refuses_negatives(capsys, flag, value):
    assert main(["cost", "resnet18", flag, value]) == 2
    _one_line_error(capsys, flag, ">= 1")
