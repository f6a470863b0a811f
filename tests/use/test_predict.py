"""``medtrain predict`` and ``medtrain.load``: new images get the probabilities ``medtrain eval`` gives the
same images, whatever form they arrive in, written as CSV or JSON. Bad inputs (one line and exit 2, or skipped)
are in test_predict_bad_inputs.py."""
from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import medtrain
from conftest import read_rows, run_cli
from medtrain.errors import MedtrainError


_cli, _read = run_cli, read_rows


def _probs(rows, cols):
    return np.array([[float(r[c]) for c in cols] for r in rows])


def _write_pngs(folder, images):
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img).save(folder / f"{i:03d}.png")


def test_folder_npz_and_run_predictions_agree(trained_run, tmp_path, capsys):
    run, data, arrays = trained_run
    _write_pngs(tmp_path / "pngs" / "sub", arrays["test_images"])  # recursive search
    code, out, _ = _cli(capsys, "predict", run, tmp_path / "pngs", "--out", tmp_path / "folder.csv")
    assert code == 0 and "40 input(s)" in out
    code, _, _ = _cli(capsys, "predict", run, data, "--split", "test", "--out", tmp_path / "npz.csv",
                      "--batch-size", "7")
    assert code == 0
    folder, npz = _read(tmp_path / "folder.csv"), _read(tmp_path / "npz.csv")
    saved = _read(run / "predictions_test.csv")
    labels = list(medtrain.load(run).labels)
    assert list(folder[0])[:2] == ["input", "prediction"] and list(folder[0])[2:] == labels
    assert [r["input"] for r in npz] == [str(i) for i in range(40)]
    assert folder[3]["input"].endswith("sub/003.png")
    expected = _probs(saved, ["q0", "q1"])  # the calibrated probabilities medtrain eval computes
    np.testing.assert_allclose(_probs(folder, labels), expected, atol=1e-5)
    np.testing.assert_allclose(_probs(npz, labels), expected, atol=1e-5)
    assert [r["prediction"] for r in npz] == [labels[j] for j in expected.argmax(1)]
    # the run's own file carries predict's columns (input, prediction, one per label), after the old ones
    assert list(saved[0])[:4] == ["index", "label0", "p0", "p1"]
    assert list(saved[0])[-6:] == ["input", "prediction", *labels, "true_label", "correct"]
    assert [r["input"] for r in saved] == [r["input"] for r in npz]  # a .npz has no files: the index
    assert [r["prediction"] for r in saved] == [r["prediction"] for r in folder]
    np.testing.assert_allclose(_probs(saved, labels), expected, atol=1e-6)


def test_predictions_apply_the_run_temperature(trained_run, tmp_path, capsys):
    """The run fitted T != 1 on validation: predict, medtrain.load(run).predict and the run's own file give
    the temperature-scaled probabilities (q columns); --no-calibration / calibrated=False the raw ones."""
    run, data, arrays = trained_run
    p = medtrain.load(run)
    saved = _read(run / "predictions_test.csv")
    raw, scaled = _probs(saved, ["p0", "p1"]), _probs(saved, ["q0", "q1"])
    assert abs(p.temperature - 1) > 0.05 and np.abs(raw - scaled).max() > 1e-2  # the two really differ
    np.testing.assert_allclose(p.predict(arrays["test_images"]), scaled, atol=1e-5)
    np.testing.assert_allclose(medtrain.load(run, calibrated=False).predict(arrays["test_images"]), raw, atol=1e-5)
    code, _, _ = _cli(capsys, "predict", run, data, "--no-calibration", "--out", tmp_path / "raw.csv")
    assert code == 0
    np.testing.assert_allclose(_probs(_read(tmp_path / "raw.csv"), p.labels), raw, atol=1e-5)


def test_no_tta_predicts_each_image_once_with_the_run_temperature(trained_run, tmp_path, capsys):
    """The run predicts with flip TTA (two passes per batch); --no-tta / tta=False gives one pass per batch,
    whose probabilities are the single view's softmax at the run's temperature, and so differ from TTA's."""
    from medtrain.evaluation import temperature_scale

    run, data, arrays = trained_run
    x = arrays["test_images"][:, None]
    with_tta, one_view = medtrain.load(run), medtrain.load(run, tta=False)
    assert with_tta.run.cfg.tta == "hflip" and one_view.run.cfg.tta == "none"
    passes = []
    for p in (with_tta, one_view):
        calls = []
        hook = p.run.module.model.register_forward_hook(lambda *a, calls=calls: calls.append(1))
        probs = p.predict(x)
        hook.remove()
        passes.append((len(calls), probs))
    (n_tta, p_tta), (n_one, p_one) = passes
    assert (n_tta, n_one) == (2, 1)  # 40 images, one batch: the views are half the cost
    for wrong in ("none", "false", None):  # a string had read as true (the run's views kept), None as false
        with pytest.raises(MedtrainError, match="tta must be True or False"):
            medtrain.load(run, tta=wrong)
    with torch.no_grad():
        single = torch.softmax(one_view.run.module(torch.from_numpy(x)).float(), -1)
    expected = temperature_scale(single, "binary-class", one_view.temperature).numpy()
    np.testing.assert_allclose(p_one, expected, atol=1e-5)
    assert np.abs(p_one - p_tta).max() > 1e-4
    code, out, _ = _cli(capsys, "predict", run, data, "--no-tta", "--out", tmp_path / "one.csv")
    assert code == 0
    np.testing.assert_allclose(_probs(_read(tmp_path / "one.csv"), one_view.labels), p_one, atol=1e-5)


def test_out_dash_writes_the_predictions_to_standard_output(trained_run, tmp_path, monkeypatch, capfd):
    """`--out -` is standard output, as Unix tools read it (it had written a file named '-'); the count line goes
    to stderr so that the output is the CSV alone, and no file is left behind. (In this process, its descriptors
    1 and 2 captured: a real process's standard output is test_outputs_safety.py's and test_predict_stdin.py's.)"""
    run, data, _ = trained_run
    monkeypatch.chdir(tmp_path)
    code, out, err = _cli(capfd, "predict", run, data, "--out", "-")
    assert code == 0, err
    rows = list(csv.DictReader(out.splitlines()))
    assert len(rows) == 40 and list(rows[0])[:2] == ["input", "prediction"]
    np.testing.assert_allclose(_probs(rows, medtrain.load(run).labels),
                               _probs(_read(run / "predictions_test.csv"), ["q0", "q1"]), atol=1e-5)
    assert "40 input(s) predicted -> standard output" in err
    assert not list(tmp_path.iterdir())


@pytest.mark.usefixtures("one_thread")
def test_run_from_files_names_its_test_images_and_predict_reproduces_them(tmp_path, capsys):
    """A run trained on a folder of PNGs: predictions_test.csv's input column holds each test image's file,
    and predicting exactly those files gives the file's probabilities."""
    from conftest import make_images

    images, labels = make_images(40, seed=3)
    for i, (img, y) in enumerate(zip(images, labels[:, 0])):
        (tmp_path / "data" / f"c{y}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(tmp_path / "data" / f"c{y}" / f"{i:03d}.png")
    run = tmp_path / "run"
    medtrain.train(dict(data=str(tmp_path / "data"), model="resnet10_28_half", epochs=1, batch_size=16, progress=False,
                        bootstrap=0, out=str(run), accelerator="cpu", flip="true"), verbose=False)  # no pilots
    saved = _read(run / "predictions_test.csv")
    files = [r["input"] for r in saved]
    assert len(files) == 8 and all(f.endswith(".png") and (tmp_path / "data") in Path(f).parents for f in files)
    assert [Path(f).parent.name for f in files] == [f"c{r['label0']}" for r in saved]  # each row's own file
    code, _, _ = _cli(capsys, "predict", run, *files, "--out", tmp_path / "p.csv")
    assert code == 0
    got = _read(tmp_path / "p.csv")
    assert [r["input"] for r in got] == files
    labels = medtrain.load(run).labels
    np.testing.assert_allclose(_probs(got, labels), _probs(saved, ["q0", "q1"]), atol=1e-5)
    np.testing.assert_allclose(_probs(saved, labels), _probs(saved, ["q0", "q1"]), atol=1e-6)
    from medtrain.explain import explain

    assert explain(run, limit=2).names == files[:2]  # explain names the run's own test images the same way


def test_run_predictions_file_keeps_old_columns_and_never_repeats_one(tmp_path):
    from medtrain.rundir import write_predictions

    scores = np.array([[0.9, 0.1], [0.2, 0.8]])
    write_predictions(tmp_path / "p.csv", np.array([0, 1]), scores, None, {"0": "p0", "1": "a,b"}, "binary-class")
    rows = _read(tmp_path / "p.csv")
    assert list(rows[0]) == ["index", "label0", "p0", "p1", "input", "prediction", "a,b", "true_label",
                             "correct"]  # "p0" would repeat
    assert [r["prediction"] for r in rows] == ["p0", "a,b"] and float(rows[1]["a,b"]) == 0.8
    assert [r["input"] for r in rows] == ["0", "1"]  # no source files: the index
    write_predictions(tmp_path / "q.csv", np.array([0, 1]), scores, None, {"0": "x", "1": "input"}, "binary-class",
                      scores ** 2, ["a/0.png", "b,1.png"])
    rows = _read(tmp_path / "q.csv")
    assert list(rows[0])[-5:-2] == ["input", "prediction", "x"] and [r["input"] for r in rows] == ["a/0.png", "b,1.png"]
    assert float(rows[0]["x"]) == 0.81  # the label columns hold the calibrated probabilities when given


def test_python_predictor_takes_arrays_tensors_and_paths(trained_run, tmp_path):
    run, _, arrays = trained_run
    imgs = arrays["test_images"][:5]
    expected = np.array([[float(r["q0"]), float(r["q1"])] for r in _read(run / "predictions_test.csv")[:5]])
    p = medtrain.load(run)
    np.testing.assert_allclose(p.predict(imgs), expected, atol=1e-5)  # (N, H, W) grey arrays
    _write_pngs(tmp_path, imgs[:2])
    mixed = p.predict([tmp_path / "000.png", imgs[1], imgs[2][None]])
    np.testing.assert_allclose(mixed, expected[:3], atol=1e-5)
    # channels last, as NumPy, PIL and MedMNIST's .npz hold images: (N, H, W, C)
    np.testing.assert_allclose(p.predict(imgs[..., None]), expected, atol=1e-5)
    # a batch (N, C, H, W) in a list is its N images (the README's example; it was read as one image)
    np.testing.assert_allclose(p.predict([tmp_path / "000.png", imgs[1:5][:, None]]), expected, atol=1e-5)


def test_one_image_alone_a_pil_image_and_an_array_of_another_size_predict_as_their_files(trained_run, tmp_path):
    """A notebook user's forms (a user walkthrough): a bare (H, W) array had been read as a batch of H rows
    ("shape (28,) has the wrong dimensionality"), a PIL image alone was not iterable (and in a list warned of
    a read-only array), and an array of another size was refused where its PNG was resized."""
    run, _, arrays = trained_run
    imgs = arrays["test_images"][:2]
    p = medtrain.load(run)
    expected = p.predict(imgs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's "The given NumPy array is not writable" among them
        np.testing.assert_allclose(p.predict(imgs[0]), expected[:1], atol=1e-6)
        np.testing.assert_allclose(p.predict(Image.fromarray(imgs[0])), expected[:1], atol=1e-6)
        np.testing.assert_allclose(p.predict([Image.fromarray(imgs[0]), imgs[1]]), expected, atol=1e-6)
    size = imgs.shape[-1]
    big = np.array(Image.fromarray(imgs[0]).resize((2 * size, 2 * size)))
    Image.fromarray(big).save(tmp_path / "big.png")
    np.testing.assert_array_equal(p.predict([big]), p.predict([tmp_path / "big.png"]))
    with pytest.warns(UserWarning, match=f"{size + 4}x{size} squashed to {size}x{size}"):
        p.predict([np.zeros((size, size + 4), np.uint8)])


def test_predict_says_its_squashed_inputs_in_the_commands_counted_line_on_every_call(trained_run, tmp_path, capsys):
    """A notebook walk: predict warned once per squashed image, where ``medtrain predict`` prints one counted line,
    and a second identical call said nothing (Python's default filter shows a text once per code line). Each call
    now warns once, in the command's line for the same inputs, at the caller's line, whatever it said before; the
    caller's filters decide and none is added."""
    from medtrain.predict_inputs import ResizedWarning

    run, _, arrays = trained_run
    size = arrays["test_images"].shape[-1]
    shapes = [(size, size + 4), (size, size), (size + 2, size)]  # two of three not square
    paths = [tmp_path / f"{i}.png" for i in range(3)]
    for path, shape in zip(paths, shapes):
        Image.fromarray(np.zeros(shape, np.uint8)).save(path)
    code, _, err = _cli(capsys, "predict", run, *paths, "--out", tmp_path / "p.csv")
    assert code == 0, err
    cli_line = next(line for line in err.splitlines() if "squashed" in line).removeprefix("medtrain: ")
    assert cli_line.startswith("2 input(s) of another aspect ratio were squashed")
    p = medtrain.load(run)
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("default")  # Python's own rule for a UserWarning: a text once per code line
        filters = list(warnings.filters)
        p.predict(paths)
        for _ in range(2):  # the same arrays again: the second call had said nothing
            p.predict([np.zeros(s, np.uint8) for s in shapes])
        assert warnings.filters == filters
        warnings.simplefilter("ignore", ResizedWarning)  # the caller's filter still decides
        p.predict(paths)
    said = [str(w.message) for w in caught]
    assert len(said) == 3 and said[0] == cli_line and said[1] == said[2]
    assert said[1].startswith("2 input(s) of another aspect ratio were squashed")
    assert f"(first: image 0: {size + 4}x{size} squashed to {size}x{size})" in said[1]
    assert all(w.category is ResizedWarning and w.filename == __file__ for w in caught)  # the user's line, not ours


def test_explain_in_python_says_its_squashed_inputs_in_one_counted_line_per_call(trained_run):
    # as predict: it had warned once per squashed image, and a second identical call said nothing
    from medtrain.explain import explain
    from medtrain.predict_inputs import ResizedWarning

    run, _, arrays = trained_run
    size = arrays["test_images"].shape[-1]
    images = [np.zeros((size, size + 4), np.uint8), np.zeros((size + 2, size), np.uint8)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("default")
        for _ in range(2):
            explain(run, images)
    said = [str(w.message) for w in caught if w.category is ResizedWarning]
    assert len(said) == 2 and said[0] == said[1] and said[0].startswith("2 input(s) of another aspect ratio")


def test_a_grey_picture_saved_as_rgb_is_predicted_as_the_grey_one(trained_run, tmp_path):
    # many exporters write grey X-rays as RGB (or RGBA) files with three equal channels: the grey run takes them
    run, _, arrays = trained_run
    grey = arrays["test_images"][:2]
    p = medtrain.load(run)
    Image.fromarray(np.stack([grey[0]] * 3, -1), "RGB").save(tmp_path / "rgb.png")
    Image.fromarray(np.dstack([grey[1]] * 3 + [np.full_like(grey[1], 255)]), "RGBA").save(tmp_path / "rgba.png")
    np.testing.assert_allclose(p.predict([tmp_path / "rgb.png", tmp_path / "rgba.png"]), p.predict(grey), atol=1e-6)
    tinted = np.stack([grey[0]] * 3, -1)
    tinted[..., 2] //= 2  # a colour picture is not taken for a grey one
    with pytest.raises(MedtrainError, match=r"a colour image \(its channels differ by up to 115 grey levels\), but "
                                            "the model takes grey images"):
        p.predict(tinted[None])


def test_json_output_and_csv_of_paths(trained_run, tmp_path, capsys):
    run, _, arrays = trained_run
    _write_pngs(tmp_path / "imgs", arrays["test_images"][:3])
    (tmp_path / "list.csv").write_text("path,note\nimgs/002.png,x\nimgs/000.png,y\n")
    code, _, _ = _cli(capsys, "predict", run, tmp_path / "list.csv", "--json", "--out", tmp_path / "p.json")
    assert code == 0
    doc = json.loads((tmp_path / "p.json").read_text())
    assert [r["input"].rsplit("/", 1)[1] for r in doc["predictions"]] == ["002.png", "000.png"]
    assert set(doc["predictions"][0]["probabilities"]) == set(doc["labels"]) and doc["skipped"] == []
    rows = _read(run / "predictions_test.csv")  # the run's own calibrated probabilities of the same images
    for rec, i in zip(doc["predictions"], (2, 0)):
        got = [rec["probabilities"][name] for name in doc["labels"]]
        np.testing.assert_allclose(got, [float(rows[i]["q0"]), float(rows[i]["q1"])], atol=1e-5)
        assert rec["prediction"] == doc["labels"][int(np.argmax(got))]


def test_image_files_are_read_as_training_reads_them(trained_run, tmp_path):
    """A 16-bit export of an image, and a file stored turned with an EXIF orientation (as cameras write),
    give the probabilities of the 8-bit, upright image (the 16-bit one where the run's 8-bit depth is not held to:
    test_predict_bit_depth.py)."""
    run, _, arrays = trained_run
    p = medtrain.load(run)
    p.image_depth = None
    img = arrays["test_images"][p.predict(arrays["test_images"]).max(1).argmin()].copy()  # least sure: not saturated
    img[0, :4], img[-1, :4] = 0, 255  # its darkest and brightest 1% are 0 and 255, as in a full-range export
    Image.fromarray(img.astype(np.uint16) * 257).save(tmp_path / "16bit.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: turn 90 degrees clockwise to display
    Image.fromarray(np.rot90(img)).save(tmp_path / "turned.png", exif=exif)  # stored anticlockwise
    want = p.predict(img[None])
    got = p.predict([tmp_path / "16bit.png", tmp_path / "turned.png"])
    np.testing.assert_allclose(got, np.repeat(want, 2, axis=0), atol=1e-5)


@pytest.mark.slow  # trains a second (3D) run: about 15 s
def test_nifti_volumes_of_a_3d_run_predict_as_eval_does(tmp_path, capsys):
    """A 3D run trained on NIfTI files (resampled to 2 mm, resized to 8 voxels a side): predicting its test
    files gives its predictions_test.csv; a 2D image for the 3D model is refused."""
    import nibabel as nib

    root = tmp_path / "nii"
    root.mkdir()
    rng = np.random.default_rng(0)
    rows = ["path,label,split"]
    parts = ["train"] * 8 + ["val"] * 2 + ["test"] * 4
    for i, part in enumerate(parts):
        vol = rng.normal(0, 1, (10, 12, 9)).astype(np.float32)
        if i % 2:
            vol[3:7, 3:7, 3:7] += 4
        nib.save(nib.Nifti1Image(vol, np.diag([1.5, 1.5, 2.0, 1.0])), str(root / f"v{i:02d}.nii.gz"))
        rows.append(f"v{i:02d}.nii.gz,{i % 2},{part}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    medtrain.train(dict(data=str(root / "labels.csv"), model="resnet10_28_half", epochs=1, batch_size=4,
                        progress=False, bootstrap=0, volume_size=8, spacing="2", out=str(run), accelerator="cpu",
                        flip="true"), verbose=False)  # no flip pilots (tests/training/test_choices.py)
    tests = [root / f"v{i:02d}.nii.gz" for i, p in enumerate(parts) if p == "test"]
    code, _, _ = _cli(capsys, "predict", run, *tests, "--out", tmp_path / "p.csv")
    assert code == 0
    saved = _read(run / "predictions_test.csv")
    got = _read(tmp_path / "p.csv")
    np.testing.assert_allclose(_probs(got, ["0", "1"]), _probs(saved, ["q0", "q1"]), atol=1e-5)
    assert [r["input"] for r in saved] == [str(t) for t in tests]  # the run names its test volumes by file
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "flat.png")
    code, _, err = _cli(capsys, "predict", run, tmp_path / "flat.png", "--out", tmp_path / "q.csv")
    assert code == 2 and "dimensionality" in err


def test_rows_of_two_npz_inputs_are_told_apart_by_their_file(tmp_path):
    # both files' rows had been named 0, 1, ...: the output could not say which file a row came from
    from medtrain.runmodel import untrained_run_model
    from medtrain.predict_inputs import iter_inputs

    arrays = {f"{s}_images": np.zeros((2, 8, 8), np.uint8) for s in ("train", "val", "test")}
    arrays.update({f"{s}_labels": np.array([[0], [1]], np.int64) for s in ("train", "val", "test")})
    for name in ("a.npz", "b.npz"):
        np.savez(tmp_path / name, **arrays)
    run = untrained_run_model("resnet18_28_half", in_chans=1, num_classes=2, input_size=8)
    alone = [item.name for item in iter_inputs([tmp_path / "a.npz"], run)]
    both = [item.name for item in iter_inputs([tmp_path / "a.npz", tmp_path / "b.npz"], run)]
    assert alone == ["0", "1"]  # one .npz: the index, as the run's own predictions_test.csv names it
    assert both == [f"{tmp_path / 'a.npz'}:0", f"{tmp_path / 'a.npz'}:1", f"{tmp_path / 'b.npz'}:0",
                    f"{tmp_path / 'b.npz'}:1"]
    assert len(set(both)) == 4
    # and as explain and the Python API take them (one path at a time): the same names
    from medtrain.predict_inputs import python_items

    assert [item.name for item in python_items([tmp_path / "a.npz", tmp_path / "b.npz"], run)] == both
    assert [item.name for item in python_items(tmp_path / "a.npz", run)] == alone


def test_json_on_standard_output_is_whole_or_absent(trained_run, tmp_path, capfd):
    """An input failing half-way had left '{"labels": [...], "predictions": [' on standard output for `| jq`; the
    JSON object is held until complete on a stream, so a failure writes nothing there (exit 2, one line): what the
    process leaves on its standard output, in a process of its own; --skip-bad's whole object in this one."""
    import os
    import subprocess
    import sys

    run, data, arrays = trained_run
    _write_pngs(tmp_path / "ok", arrays["test_images"][:3])
    (tmp_path / "ok" / "zz_bad.png").write_bytes(b"not a png")
    argv = ["predict", str(run), str(tmp_path / "ok"), "--out", "-", "--json", "--batch-size", "1"]
    res = subprocess.run([sys.executable, "-m", "medtrain", *argv], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 2 and res.stdout == "" and "zz_bad.png" in res.stderr
    code, out, err = _cli(capfd, *argv, "--skip-bad")
    got = json.loads(out)
    assert code == 0 and len(got["predictions"]) == 3 and len(got["skipped"]) == 1
