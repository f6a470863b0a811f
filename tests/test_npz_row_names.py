"""A ``.npz`` row given to predict or explain is named to a person by its file, split and index, in its errors and
``--skip-bad`` lines: a 16^3 run given AdrenalMNIST3D's 28^3 test volumes had said "medtrain: error: 0: size 28x28x28,
but the model takes 16x16x16" (and "skipped 0: ..."), naming no file, while explain's help said an input of another
size "is resized to it" (only 2D images are; walk 'explain', session 33). Its name in the outputs (predict's
``input`` column, maps.npz's ``inputs``) stays its index, ``PATH:INDEX`` beside other inputs."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from conftest import read_rows, run_cli
from medtrain.errors import MedtrainError
from medtrain.predict_inputs import Skipped, conform, iter_inputs, shown_name

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_npz_volume_of_another_size_is_refused_naming_its_file_split_and_index(tmp_path):
    run = SimpleNamespace(input_shape=(1, 16, 16, 16))  # what the readers ask of a 3D run at 16^3
    path = tmp_path / "adrenal.npz"
    np.savez(path, test_images=np.zeros((2, 8, 8, 8), np.uint8), test_labels=np.zeros((2, 1), np.uint8))
    items = list(iter_inputs([path], run, split="test"))
    assert [item.name for item in items] == ["0", "1"]  # predict's input column: the index, as before
    with pytest.raises(MedtrainError) as refused:
        conform(items[1].load(), items[1].name, run)
    said = str(refused.value)
    where = f"{path} (test split, image 1)"
    assert said.startswith(f"{where}: size 8x8x8, but the model takes 16x16x16") and "not resized" in said
    assert Skipped(items[1].name, said) == (where, said.removeprefix(f"{where}: "))  # --skip-bad's line: the same
    beside = list(iter_inputs([path, path], run, split="test"))  # beside other inputs: PATH:INDEX, named the same
    assert beside[0].name == f"{path}:0" and shown_name(beside[0].name) == f"{path} (test split, image 0)"


def test_predict_and_explain_name_a_bad_npz_row_by_its_file_and_keep_the_index_as_its_output_name(
        trained_run, tmp_path, capsys):
    run, _, arrays = trained_run  # a grey 2D run: colour rows are refused ("a colour image")
    grey, colour = tmp_path / "grey.npz", tmp_path / "colour.npz"
    np.savez(grey, test_images=arrays["test_images"][:2], test_labels=arrays["test_labels"][:2])
    rgb = np.stack([arrays["test_images"][:2], arrays["test_images"][:2] // 2, arrays["test_images"][:2] // 3], -1)
    np.savez(colour, test_images=rgb, test_labels=arrays["test_labels"][:2])
    apart = int((rgb[0].max(-1).astype(int) - rgb[0].min(-1)).max())
    refused = (f"{colour} (test split, image 0): a colour image (its channels differ by up to {apart} grey levels), "
               "but the model takes grey images: an RGB(A) image is taken only where its three channels are equal (a "
               "grey image stored as colour); convert it to grey first if that is what it is")
    code, _, err = run_cli(capsys, "predict", run, colour, "--split", "test", "--out", tmp_path / "bad.csv")
    assert code == 2 and err.strip() == f"medtrain: error: {refused}"
    code, _, err = run_cli(capsys, "predict", run, grey, colour, "--split", "test", "--skip-bad",
                           "--out", tmp_path / "p.csv")
    assert code == 0 and f"medtrain: skipped {refused}\n" in err
    assert [r["input"] for r in read_rows(tmp_path / "p.csv")] == [f"{grey}:0", f"{grey}:1"]
    code, _, err = run_cli(capsys, "explain", run, grey, colour, "--split", "test", "--skip-bad",
                           "--out", tmp_path / "ex")
    assert code == 0 and f"medtrain: skipped {refused}\n" in err  # the name said once, not "0: colour.npz ...: "
    with np.load(tmp_path / "ex" / "maps.npz") as z:
        assert list(z["inputs"]) == [f"{grey}:0", f"{grey}:1"]  # as predict names them
