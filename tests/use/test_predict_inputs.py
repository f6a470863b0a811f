"""What ``medtrain predict`` and ``medtrain.load(run).predict`` read, as training reads it (a user walkthrough):
a PIL image decodes as its file, a folder lists the images training lists (through linked folders), a CSV's
paths are found as the training CSV reader finds them; ``--out`` never overwrites an input; the CSV written
ends its lines as the run's own CSVs do."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import medtrain
from conftest import no_hang
from medtrain.errors import MedtrainError
from test_predict import _cli, _read  # the predict tests' helpers




def _write_pngs(folder, images):
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img).save(folder / f"{i:03d}.png")


def _files(root: Path) -> dict:
    """Every file under ``root`` (links not followed) with its bytes: what a refused command must leave as it was."""
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


# --------------------------------------------------------------------------- a PIL image decodes as its file


def _save(kind: str, img: np.ndarray, folder: Path) -> Path:
    """``img`` (one of the run's 16x16 grey test images) saved in a form whose pixels are not its values."""
    if kind == "exif_jpeg":  # stored turned, with the EXIF orientation that displays it upright (cameras)
        exif = Image.Exif()
        exif[0x0112] = 6
        Image.fromarray(np.rot90(img)).save(path := folder / "turned.jpg", exif=exif, quality=95)
    elif kind == "palette_png":  # indices whose palette inverts them: the indices are not the grey levels
        im = Image.fromarray(img, "L").convert("P")
        im.putpalette([255 - i for i in range(256) for _ in range(3)])
        im.save(path := folder / "palette.png")
    elif kind == "la_png":  # grey + alpha
        Image.fromarray(np.stack([img, np.full_like(img, 255)], -1), "LA").save(path := folder / "la.png")
    elif kind == "16bit_png":  # a 16-bit export: windowed to its own 1st..99th percentile, as training does
        Image.fromarray(img.astype(np.uint16) * 200 + 1000).save(path := folder / "16bit.png")
    elif kind == "int32_tiff":
        Image.fromarray(img.astype(np.int32) * 1000 - 50_000, "I").save(path := folder / "int32.tif")
    else:
        raise ValueError(kind)
    return path


@pytest.mark.parametrize("kind", ["exif_jpeg", "palette_png", "la_png", "16bit_png", "int32_tiff"])
def test_a_pil_image_gives_the_probabilities_of_its_file(trained_run, tmp_path, kind):
    """``predict(Image.open(p))`` is ``predict(p)``: the EXIF orientation applied, a palette's colours (not its
    indices), grey + alpha as grey (it was refused as "16 channel(s)"), more than 8 bits windowed (it was
    refused as "must be uint8")."""
    run, _, arrays = trained_run
    p = medtrain.load(run)
    path = _save(kind, arrays["test_images"][0], tmp_path)
    if kind in ("16bit_png", "int32_tiff"):  # of another depth than the run's 8-bit images: refused alike
        with Image.open(path) as im:
            for given in (im, path):
                with pytest.raises(MedtrainError, match="-bit image, but the run was trained on 8-bit images"):
                    p.predict(given)
        p.image_depth = None  # predicted anyway (test_predict_bit_depth.py), decoded as its file
    with Image.open(path) as im:
        got = p.predict(im)
        both = p.predict([im, path])
    want = p.predict(path)
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(both, np.repeat(want, 2, axis=0), atol=1e-6)


def test_a_pil_image_that_cannot_be_read_is_one_error(trained_run, tmp_path):
    run, _, arrays = trained_run
    _write_pngs(tmp_path, arrays["test_images"][:1])
    im = Image.open(tmp_path / "000.png")  # opened lazily: its pixels are read when predicted
    im.close()
    with pytest.raises(MedtrainError, match="image 0: cannot read image"):
        medtrain.load(run).predict(im)


# --------------------------------------------------------------------------- folders: linked sub-folders


def test_a_folder_lists_the_images_training_lists_through_linked_folders(trained_run, tmp_path, capsys):
    """A class folder that is a symbolic link (data kept elsewhere) is read by training; predict had skipped
    it silently. A link back up the tree (a loop) neither hangs nor repeats images."""
    from medtrain.data import load_folder

    run, _, arrays = trained_run
    data = tmp_path / "data"
    _write_pngs(data / "a", arrays["test_images"][:6])
    _write_pngs(tmp_path / "elsewhere" / "b", arrays["test_images"][6:12])
    (data / "b").symlink_to(tmp_path / "elsewhere" / "b", target_is_directory=True)
    (data / "a" / "loop").symlink_to(data, target_is_directory=True)
    splits = load_folder(data)
    trained = [s for part in (splits.train, splits.val, splits.test) for s in part.sources]
    assert len(trained) == 12
    code, out, _ = _cli(capsys, "predict", run, data, "--out", tmp_path / "p.csv")
    assert code == 0 and "12 input(s)" in out
    listed = [r["input"] for r in _read(tmp_path / "p.csv")]
    assert sorted(listed) == sorted(trained) and str(data / "b" / "005.png") in listed


# --------------------------------------------------------------------------- CSVs of paths


def test_a_csv_of_windows_paths_predicts_the_files_training_reads(trained_run, tmp_path, capsys):
    """A label CSV written on Windows (``imgs\\000.png``), which training reads, is predicted from as well
    (it was "damaged or unsupported file (FileNotFoundError)"), naming the files training names."""
    from medtrain.data.table import read_label_csv

    run, _, arrays = trained_run
    _write_pngs(tmp_path / "imgs", arrays["test_images"][:2])
    labels_csv = tmp_path / "labels.csv"
    labels_csv.write_text("path,label\nimgs\\001.png,b\nimgs\\000.png,a\n")
    code, out, err = _cli(capsys, "predict", run, labels_csv, "--out", tmp_path / "p.csv")
    assert code == 0 and "2 input(s)" in out, err
    rows = _read(tmp_path / "p.csv")
    assert [r["input"] for r in rows] == [str(p) for p in read_label_csv(labels_csv).resolve()]
    p = medtrain.load(run)
    got = np.array([[float(r[c]) for c in p.labels] for r in rows])
    np.testing.assert_allclose(got, p.predict(arrays["test_images"][[1, 0]]), atol=1e-5)


def test_a_missing_file_a_csv_lists_is_said_missing_not_damaged(trained_run, tmp_path, capsys):
    run, _, arrays = trained_run
    _write_pngs(tmp_path / "imgs", arrays["test_images"][:1])
    (tmp_path / "list.csv").write_text("path\nimgs/000.png\nimgs/nope.png\n")
    out = tmp_path / "p.csv"
    code, _, err = _cli(capsys, "predict", run, tmp_path / "list.csv", "--out", out)
    assert code == 2 and err.count("\n") == 1 and err.startswith("medtrain: error:")
    assert f"{tmp_path / 'imgs' / 'nope.png'}: no such file" in err and "damaged" not in err
    assert not out.exists()
    code, stdout, err = _cli(capsys, "predict", run, tmp_path / "list.csv", "--skip-bad", "--out", out)
    assert code == 0 and "1 input(s) predicted" in stdout and "(1 skipped)" in stdout
    assert f"skipped {tmp_path / 'imgs' / 'nope.png'}: no such file" in err


# --------------------------------------------------------------------------- --out is never an input


@pytest.mark.parametrize("case", ["image", "image_by_a_link", "csv", "listed_by_the_csv", "in_the_folder"])
def test_out_never_overwrites_an_input(trained_run, tmp_path, capsys, case):
    """``predict RUN img.png --out img.png`` had turned the PNG into a CSV; now one line, exit 2, every file as
    it was (no temporary file left either)."""
    run, _, arrays = trained_run
    _write_pngs(tmp_path / "imgs", arrays["test_images"][:2])
    (tmp_path / "list.csv").write_text("path\nimgs/000.png\nimgs/001.png\n")
    (tmp_path / "link.png").symlink_to(tmp_path / "imgs" / "001.png")
    given, out = {
        "image": (tmp_path / "imgs" / "000.png", tmp_path / "imgs" / "000.png"),
        "image_by_a_link": (tmp_path / "link.png", tmp_path / "imgs" / ".." / "imgs" / "001.png"),
        "csv": (tmp_path / "list.csv", tmp_path / "list.csv"),
        "listed_by_the_csv": (tmp_path / "list.csv", tmp_path / "imgs" / "001.png"),
        "in_the_folder": (tmp_path / "imgs", tmp_path / "imgs" / "001.png"),
    }[case]
    before = _files(tmp_path)
    code, _, err = _cli(capsys, "predict", run, given, "--out", out)
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"medtrain: error: the output {out} is ")
    assert "would overwrite it; give another --out" in err
    assert _files(tmp_path) == before


# --------------------------------------------------------------------------- the CSV written


def test_the_csv_written_ends_its_lines_as_the_runs_own_csvs(trained_run, tmp_path, capsys):
    run, _, arrays = trained_run
    _write_pngs(tmp_path / "imgs", arrays["test_images"][:2])
    code, _, _ = _cli(capsys, "predict", run, tmp_path / "imgs", "--out", tmp_path / "p.csv")
    assert code == 0
    text = (tmp_path / "p.csv").read_bytes()
    assert b"\r" not in text and text.count(b"\n") == 3 and text.endswith(b"\n")
    assert b"\r" not in (run / "predictions_test.csv").read_bytes()  # the run's own: LF


def test_one_colour_image_alone_is_one_prediction_channels_first_or_last(learnable_rgb_npz, tmp_path):
    # a (3, H, W) image had been split into its channels: three grey images, three rows, no warning
    from conftest import fast_config

    medtrain.train(fast_config(learnable_rgb_npz, tmp_path / "rgb", epochs=1, bootstrap=0), verbose=False)
    p = medtrain.load(tmp_path / "rgb")
    hwc = np.load(learnable_rgb_npz)["test_images"][:1]  # MedMNIST layout: (N, H, W, 3)
    batch = p.predict(hwc.transpose(0, 3, 1, 2))
    for one in (hwc[0].transpose(2, 0, 1), hwc[0]):
        got = p.predict(one)
        assert got.shape == batch.shape == (1, 2)
        np.testing.assert_allclose(got, batch, atol=1e-6)


def test_one_colour_image_given_to_a_grey_network_is_one_prediction(trained_run):
    # (H, W, 3) for a grey run had been 16 rows, each a 16x3 slice squashed to an image
    run, _, arrays = trained_run
    p = medtrain.load(run)
    grey = arrays["test_images"][0]
    got = p.predict(np.stack([grey] * 3, -1))
    assert got.shape == (1, 2)
    np.testing.assert_allclose(got, p.predict(grey), atol=1e-6)


def test_a_quoted_home_out_is_the_home_folder(trained_run, tmp_path, capsys, monkeypatch):
    # predict, explain, export and compare's tables had gone to a literal ./~ folder
    run, _, arrays = trained_run
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    Image.fromarray(arrays["test_images"][0]).save(tmp_path / "a.png")
    code, _, _ = _cli(capsys, "predict", run, tmp_path / "a.png", "--out", "~/p.csv")
    assert code == 0 and (tmp_path / "home" / "p.csv").is_file() and not (tmp_path / "~").exists()


# --------------------------------------------------------------------------- inputs that are no regular file


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
@pytest.mark.parametrize("name", ["IM0007", "scan.png", "scan.dcm", "list.csv", "split.npz", "zero.png"])
def test_a_fifo_or_device_given_is_a_bad_input_never_opened(trained_run, tmp_path, capsys, name):
    """A FIFO (whatever its name) had made predict wait for a writer for ever; /dev/zero (here by a link) had
    been read as a file. It is refused in one line, or skipped with --skip-bad, as a damaged image is."""
    run, _, arrays = trained_run
    _write_pngs(tmp_path / "imgs", arrays["test_images"][:1])
    odd = tmp_path / name
    odd.symlink_to("/dev/zero") if name == "zero.png" else os.mkfifo(odd)
    out = tmp_path / "p.csv"
    with no_hang():
        code, _, err = _cli(capsys, "predict", run, odd, "--out", out)
        assert code == 2 and err == f"medtrain: error: {odd}: not a regular file (a FIFO, socket or device)\n"
        assert not out.exists()
        code, stdout, err = _cli(capsys, "predict", run, odd, tmp_path / "imgs", "--skip-bad", "--out", out)
    assert code == 0 and "1 input(s) predicted" in stdout and "(1 skipped)" in stdout
    assert f"skipped {odd}: not a regular file" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_a_device_or_a_link_loop_a_csv_or_folder_lists_is_said_so(trained_run, tmp_path, capsys):
    """Listed by a CSV they had been "no such file or folder" (the file is there); a FIFO in a folder had
    hung."""
    run, _, arrays = trained_run
    _write_pngs(tmp_path / "imgs", arrays["test_images"][:1])
    os.mkfifo(tmp_path / "imgs" / "fifo.png")
    (tmp_path / "loopa.png").symlink_to("loopb.png")
    (tmp_path / "loopb.png").symlink_to("loopa.png")
    (tmp_path / "list.csv").write_text("path\nimgs/000.png\nimgs/fifo.png\n/dev/zero\nloopa.png\n")
    out = tmp_path / "p.csv"
    with no_hang():
        code, _, err = _cli(capsys, "predict", run, tmp_path / "list.csv", "--out", out)
        assert code == 2 and err.count("\n") == 1
        assert f"{tmp_path / 'imgs' / 'fifo.png'}: not a regular file (a FIFO, socket or device) (row 3 of" in err
        code, _, err = _cli(capsys, "predict", run, tmp_path / "list.csv", "--skip-bad", "--out", out)
        assert code == 0
        assert "/dev/zero: not a regular file (a FIFO, socket or device) (row 4 of" in err
        assert f"skipped {tmp_path / 'loopa.png'}: symbolic link loop (row 5 of" in err
        code, _, err = _cli(capsys, "predict", run, tmp_path / "imgs", "--skip-bad", "--out", out)
    assert code == 0 and f"skipped {tmp_path / 'imgs' / 'fifo.png'}: not a regular file" in err
    code, _, err = _cli(capsys, "predict", run, tmp_path / "loopa.png", "--out", out)
    assert code == 2 and err == f"medtrain: error: {tmp_path / 'loopa.png'}: symbolic link loop\n"
