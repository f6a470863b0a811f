"""A run saved by an older medtrain stays usable: its ``config.yaml`` may record settings that a new run is now
refused when they are typed (``flip: false`` with ``tta: hflip``; ``image_size: 32`` on a .npz), and predict,
eval, export and explain of it work as before, rather than refusing in a line that names a flag nobody typed.
A new ``train`` given those flags is still refused in one line, before anything is written."""
from __future__ import annotations

import json
import shutil

import pytest

from conftest import fast_config, make_npz, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 1-epoch run on a tiny .npz, flips off and no TTA (as a new run may be trained)."""
    import medtrain

    root = tmp_path_factory.mktemp("saved")
    data = make_npz(root / "tiny.npz", sizes=(48, 16, 16))
    run = root / "run"
    medtrain.train(fast_config(data, run, epochs=1, bootstrap=0, flip="false", tta="none", class_weights="false"),
                   verbose=False)
    return run, data


def as_older_medtrain_wrote(run, tmp_path, key: str, value: str):
    """A copy of ``run`` whose ``config.yaml`` records ``key: value``, as an older medtrain wrote it."""
    old = tmp_path / "old"
    shutil.copytree(run, old)
    path = old / "config.yaml"
    lines = path.read_text().splitlines()
    at = [i for i, line in enumerate(lines) if line.startswith(f"{key}:")]
    assert len(at) == 1
    lines[at[0]] = f"{key}: {value}"
    path.write_text("\n".join(lines) + "\n")
    return old


def test_a_run_recorded_with_flip_false_and_tta_hflip_is_still_predicted_evaluated_exported_explained(
        finished, tmp_path, capsys):
    run, data = finished
    old = as_older_medtrain_wrote(run, tmp_path, "tta", "hflip")
    for argv in (("predict", old, data, "--out", tmp_path / "p.csv"), ("eval", old),
                 ("export", old, "--format", "torchscript", "--out", tmp_path / "m.pt"),
                 ("explain", old, "--limit", "1", "--out", tmp_path / "maps")):
        code, _, err = run_cli(capsys, *argv)
        assert code == 0, (argv[0], err)
        assert "flip false" not in err
    assert (tmp_path / "p.csv").is_file() and (tmp_path / "m.pt").is_file() and (tmp_path / "maps").is_dir()


def test_a_npz_run_recorded_with_an_image_size_is_evaluated_as_before_and_explained(finished, tmp_path, capsys):
    run, _ = finished
    was = tmp_path / "as_trained"
    shutil.copytree(run, was)
    code, _, _ = run_cli(capsys, "eval", was)
    assert code == 0
    old = as_older_medtrain_wrote(run, tmp_path, "image_size", "32")
    code, _, err = run_cli(capsys, "eval", old)
    assert code == 0, err
    assert "--image-size" not in err  # no flag named that nobody typed
    notes = [line for line in err.splitlines() if "image_size 32" in line]
    assert len(notes) == 1 and "not applied" in notes[0]  # said once, in one line
    before, after = (json.loads((d / "eval_test.json").read_text()) for d in (was, old))
    for key in ("auc", "acc", "n", "confusion", "auc_ci"):  # read at the size it was trained at, as before
        assert after[key] == before[key], key
    code, _, err = run_cli(capsys, "explain", old, "--limit", "1", "--out", tmp_path / "maps")
    assert code == 0 and "--image-size" not in err, err


@pytest.mark.parametrize("typed, said", [
    (("--flip", "false", "--tta", "hflip"), "flip false turns flips off in training and TTA, but tta hflip"),
    (("--image-size", "32",), "--image-size 32 applies to image folders and CSVs only, not to"),
])
def test_a_new_run_typed_with_those_flags_is_refused_in_one_line(tmp_path, capsys, typed, said):
    data = make_npz(tmp_path / "tiny.npz", sizes=(48, 16, 16))
    code, _, err = run_cli(capsys, "train", "--data", data, *typed, "--out", tmp_path / "new")
    assert code == 2 and said in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "new").exists()


def test_a_new_medmnist_run_typed_with_an_image_size_is_refused_before_reading_data(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "--dataset", "breastmnist", "--image-size", "32", "--data-dir",
                           tmp_path / "empty", "--out", tmp_path / "new")
    assert code == 2 and "--image-size 32 applies to image folders and CSVs only, not to MedMNIST set" in err
    assert not (tmp_path / "new").exists()


def test_a_config_file_with_flip_false_and_tta_hflip_is_refused_when_one_of_them_is_typed():
    from medtrain.config import check_read, resolve
    from medtrain.errors import MedtrainError

    saved = {"dataset": "breastmnist", "flip": "false", "tta": "hflip"}
    check_read(resolve(saved), {})  # a saved config (a compare cell's, an older run's): loadable and trainable
    with pytest.raises(MedtrainError, match="flip false.*tta hflip"):
        check_read(resolve(saved, {"tta": "hflip"}), {"tta": "hflip"})
    with pytest.raises(MedtrainError, match="flip false.*tta flip"):
        typed = {"flip": "false", "tta": "flip"}
        check_read(resolve({"dataset": "breastmnist"}, typed), typed)


def test_a_new_run_given_those_settings_through_the_python_api_is_refused(tmp_path):
    # a notebook's dict is what it typed: refused as the CLI refuses the flags, before anything is written
    import medtrain

    data = make_npz(tmp_path / "d.npz")
    with pytest.raises(medtrain.MedtrainError, match="flip false turns flips off"):
        medtrain.train(fast_config(data, tmp_path / "r", flip="false", tta="hflip"), verbose=False)
    assert not (tmp_path / "r").exists()
