"""``medtrain predict`` and ``medtrain eval RUN --data`` hold image files to the bit depth of the run's training
images: 8-bit values are read as they are, deeper images (16-bit, 32-bit, float) each stretched between its own
1st and 99th percentiles, so a 16-bit PNG given to a run trained on 8-bit PNGs (or MedMNIST) is not what the
network learned. It had been predicted without a word; it is refused in one line naming the file and both depths
(exit 2, nothing written), and the reverse too. A run records the depth in its weights' metadata (``image_depth``),
so a model handed on as ``model.safetensors`` and ``config.yaml`` keeps the check, and in ``metrics.json``'s
``provenance``, which a run whose weights do not record it is held to; a run from before both checks nothing."""
from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
from PIL import Image

import medtrain
from conftest import fast_config, make_images, make_npz, run_cli
from medtrain.errors import MedtrainError

IMAGES, LABELS = make_images(48, seed=0)


def _eight(img: np.ndarray) -> np.ndarray:
    return img


def _sixteen(img: np.ndarray) -> np.ndarray:
    return img.astype(np.uint16) * 200 + 1000  # a 16-bit export: Pillow saves it as mode I;16


def _folder(root, convert, n=None):
    """The images in class folders ``root/<label>/<i>.png``, each saved as ``convert`` makes it."""
    for i, (img, y) in enumerate(zip(IMAGES[:n], LABELS[:n, 0])):
        (root / str(y)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(convert(img)).save(root / str(y) / f"{i:02d}.png")
    return root


def _train(root, convert):
    data = _folder(root / "data", convert)
    run = root / "run"
    medtrain.train(fast_config(data, run, model="resnet18_28_half", epochs=1, bootstrap=0, tta="none"),
                   verbose=False)
    return run


@pytest.fixture(scope="module")
def run8(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("eight"), _eight)


@pytest.fixture(scope="module")
def run16(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("sixteen"), _sixteen)


def _recorded(run):
    return json.loads((run / "metrics.json").read_text())["provenance"]["image_depth"]


def test_a_run_records_the_bit_depth_of_its_training_images(run8, run16, tmp_path):
    from medtrain.data.medmnist import load_npz
    from medtrain.provenance import record

    assert _recorded(run8) == "8-bit" and _recorded(run16) == "more than 8 bits"
    # a MedMNIST-layout .npz holds uint8 images, read as they are
    assert record(load_npz(make_npz(tmp_path / "m.npz", sizes=(8, 4, 4))))["image_depth"] == "8-bit"


def test_predict_refuses_16_bit_pngs_for_a_run_trained_on_8_bit_pngs(run8, tmp_path, capsys):
    given = _folder(tmp_path / "given", _sixteen, 4)
    code, out, err = run_cli(capsys, "predict", run8, given, "--out", tmp_path / "p.csv")
    first = sorted(given.rglob("*.png"))[0]
    assert code == 2 and not (tmp_path / "p.csv").exists()
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(first) in err and "16-bit image" in err and "trained on 8-bit images" in err
    # the same images at 8 bits are predicted
    code, _, err = run_cli(capsys, "predict", run8, _folder(tmp_path / "eight", _eight, 4), "--out",
                           tmp_path / "p.csv")
    assert code == 0, err


def test_eval_on_external_16_bit_data_is_refused_and_writes_nothing(run8, tmp_path, capsys):
    before = sorted(p.name for p in run8.iterdir())
    code, _, err = run_cli(capsys, "eval", run8, "--data", _folder(tmp_path / "ext", _sixteen, 12))
    assert code == 2 and "16-bit image" in err and "trained on 8-bit images" in err
    assert sorted(p.name for p in run8.iterdir()) == before


def test_explain_refuses_16_bit_pngs_for_a_run_trained_on_8_bit_pngs_and_writes_nothing(run8, tmp_path, capsys):
    given = _folder(tmp_path / "given", _sixteen, 2)
    code, _, err = run_cli(capsys, "explain", run8, given, "--out", tmp_path / "maps")
    assert code == 2 and "16-bit image" in err and "trained on 8-bit images" in err, err
    assert not (tmp_path / "maps").exists()


def test_a_run_trained_on_16_bit_pngs_refuses_8_bit_ones_and_takes_deeper_ones(run16, tmp_path):
    p = medtrain.load(run16)
    Image.fromarray(IMAGES[0]).save(tmp_path / "eight.png")
    with pytest.raises(MedtrainError, match=r"eight\.png is an 8-bit image, but the run was trained on images of "
                                            r"more than 8 bits"):
        p.predict(tmp_path / "eight.png")
    # deeper files are read by the rule the run's were: each stretched between its own percentiles
    Image.fromarray(_sixteen(IMAGES[0])).save(tmp_path / "sixteen.png")
    Image.fromarray(IMAGES[0].astype(np.float32) / 255, "F").save(tmp_path / "float.tif")
    got = p.predict([tmp_path / "sixteen.png", tmp_path / "float.tif"])
    np.testing.assert_allclose(got[0], got[1], atol=1e-5)


def test_a_pil_image_of_another_depth_is_refused_as_its_file_is(run8, tmp_path):
    p = medtrain.load(run8)
    Image.fromarray(_sixteen(IMAGES[0])).save(tmp_path / "x.png")
    with Image.open(tmp_path / "x.png") as im, pytest.raises(MedtrainError, match="image 0 is a 16-bit image"):
        p.predict(im)
    assert p.predict(IMAGES[:2]).shape == (2, 2)  # uint8 arrays are images already: not held to it


def test_skip_bad_leaves_out_the_images_of_another_depth(run8, tmp_path, capsys):
    given = _folder(tmp_path / "given", _eight, 3)
    Image.fromarray(_sixteen(IMAGES[3])).save(given / "deep.png")
    code, _, err = run_cli(capsys, "predict", run8, given, "--out", tmp_path / "p.csv", "--skip-bad")
    rows = (tmp_path / "p.csv").read_text().splitlines()[1:]
    assert code == 0 and len(rows) == 3 and not any("deep.png" in r for r in rows)
    assert "deep.png" in err and "16-bit image" in err


def _weights_without_depth(run):
    """``run``'s weights as a medtrain before they recorded the bit depth wrote them (metadata without it)."""
    from safetensors.torch import load_file, save_file

    from medtrain.models.weights import read_meta

    meta = read_meta(run / "model.safetensors")
    del meta["image_depth"]
    save_file(load_file(run / "model.safetensors"), run / "model.safetensors",
              metadata={k: json.dumps(v) for k, v in meta.items()})


def _handed_on(run, to):
    """The model as it is shared without its run folder: weights and config alone (README: enough for predict,
    export and explain)."""
    to.mkdir()
    for name in ("model.safetensors", "config.yaml"):
        shutil.copy(run / name, to / name)
    return to


def test_the_weights_record_the_bit_depth_of_the_training_images(run8, run16):
    from medtrain.models.weights import read_meta

    assert read_meta(run8 / "model.safetensors")["image_depth"] == "8-bit"
    assert read_meta(run16 / "model.safetensors")["image_depth"] == "more than 8 bits"


def test_a_model_handed_on_as_weights_and_config_refuses_16_bit_pngs_as_its_run_does(run8, tmp_path, capsys):
    shared = _handed_on(run8, tmp_path / "shared")
    given = _folder(tmp_path / "given", _sixteen, 2)
    code, _, err = run_cli(capsys, "predict", shared, given, "--out", tmp_path / "p.csv")
    assert code == 2 and "16-bit image" in err and "trained on 8-bit images" in err, err
    assert not (tmp_path / "p.csv").exists()
    code, _, err = run_cli(capsys, "explain", shared, given, "--out", tmp_path / "maps")
    assert code == 2 and "16-bit image" in err and "trained on 8-bit images" in err, err
    assert not (tmp_path / "maps").exists()
    with pytest.raises(MedtrainError, match="16-bit image"):  # medtrain.load, and explain given the loaded run
        medtrain.load(shared).predict(given)
    from medtrain.explain import explain
    from medtrain.runmodel import load_run_module

    with pytest.raises(MedtrainError, match="16-bit image"):
        explain(load_run_module(shared), given)
    assert medtrain.load(shared).predict(_folder(tmp_path / "eight", _eight, 2)).shape == (2, 2)


def test_a_run_that_recorded_no_depth_predicts_as_before(run8, tmp_path, capsys):
    old = tmp_path / "old"
    shutil.copytree(run8, old, ignore=shutil.ignore_patterns("checkpoints", "logs"))
    _weights_without_depth(old)  # (metrics.json's record is for a reader: predict holds to the weights')
    code, _, err = run_cli(capsys, "predict", old, _folder(tmp_path / "given", _sixteen, 2), "--out",
                           tmp_path / "p.csv")
    assert code == 0, err


@pytest.mark.parametrize("deep", [3, 12])  # some files 16-bit, or all of them
def test_a_stored_folder_gives_its_depth_whether_written_or_reused(tmp_path, deep):
    from medtrain.data import load_folder

    root = _folder(tmp_path / "d", _eight, 12)
    for p in sorted(root.rglob("*.png"))[:deep]:
        Image.fromarray(_sixteen(np.asarray(Image.open(p)))).save(p)
    want = "mixed" if deep < 12 else "more than 8 bits"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (8-bit files beside deeper ones are said: data/test_folder_sizes_palette.py)
        for _ in range(2):  # the store written, then reused (its files' headers not read again)
            s = load_folder(root, store="mmap", data_dir=tmp_path / "cache", val_fraction=0.25, test_fraction=0.25)
            assert s.extra["image_depth"] == want
        assert load_folder(root, val_fraction=0.25, test_fraction=0.25).extra["image_depth"] == want
