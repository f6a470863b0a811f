"""What a run records about its data for the report (class balance per split, patient groups), and that a
finished run is only evaluated on the data split as it was trained."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import medtrain
from medtrain.cli import main
from medtrain.data.base import Split, Splits
from medtrain.errors import MedtrainError, TrainingInterrupted
from medtrain.rundir import data_summary, read_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import fast_config, make_images, png_csv  # noqa: E402


def _split(labels) -> Split:
    labels = torch.as_tensor(labels)
    return Split(torch.zeros(len(labels), 1, 4, 4, dtype=torch.uint8), labels)


def test_class_balance_per_split_counts_every_class_even_an_absent_one():
    s = Splits("x", "multi-class", {"0": "a", "1": "b", "2": "c"}, _split([0, 0, 1, 2]), _split([1, 1]),
               _split([0, 2, 2]), source="x.csv")
    d = data_summary(s)
    assert d["classes"] == ["a", "b", "c"] and d["shape"] == [1, 4, 4] and d["source"] == "x.csv"
    assert [(r["name"], r["n"], r["counts"]) for r in d["splits"]] == [
        ("train", 4, [2, 1, 1]), ("val", 2, [0, 2, 0]), ("test", 3, [1, 0, 2])]
    assert "groups" not in d


def test_multilabel_counts_are_images_carrying_each_label():
    y = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    d = data_summary(Splits("m", "multi-label, binary-class", {"0": "a", "1": "b"}, _split(y), _split(y), _split(y)))
    assert d["splits"][0]["counts"] == [2, 1] and d["splits"][0]["n"] == 3


def test_groups_seen_in_two_splits_are_counted():
    s = Splits("x", "binary-class", {"0": "a", "1": "b"}, _split([0, 1, 0]), _split([1]), _split([0, 1]),
               extra={"groups": {"train": ["p1", "p1", "p2"], "val": ["p3"], "test": ["p2", "p4"]}})
    d = data_summary(s)
    assert d["groups"] == {"train": 2, "val": 1, "test": 2}
    assert d["shared_groups"] == 1  # p2 is in train and test


@pytest.mark.parametrize("content, message", [(b"\xad\xff\x00", "not UTF-8 text"), (b"lr: [1e-3", "not valid YAML"),
                                              (b"- a list", "does not hold a mapping")])
def test_a_damaged_run_config_is_named_in_one_error_not_a_traceback(tmp_path, content, message):
    (tmp_path / "config.yaml").write_bytes(content)
    with pytest.raises(MedtrainError, match=message):
        read_config(tmp_path)


def _folder(root, images, labels, start=0):
    from PIL import Image

    for i, (img, y) in enumerate(zip(images, labels.ravel())):
        d = root / ("bright" if y else "plain")
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(d / f"{start + i:04d}.png")


def test_a_run_whose_folder_changed_is_not_evaluated_on_a_new_split(tmp_path, capsys):
    # a folder that gained images re-splits: eval would score images the run trained on as "test"
    images, labels = make_images(80)
    _folder(tmp_path / "data", images, labels)
    run = tmp_path / "run"
    m = medtrain.train(fast_config(tmp_path / "data", run, epochs=1, bootstrap=0), verbose=False)
    assert medtrain.evaluate(run, verbose=False)["auc"] == pytest.approx(m["test"]["auc"], abs=1e-9)  # unchanged
    more, more_labels = make_images(20, seed=5)
    _folder(tmp_path / "data", more, more_labels, start=1000)
    (run / "eval_test.json").unlink()
    capsys.readouterr()
    assert main(["eval", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "changed since it was trained: 20 input(s) added, 0 gone" in err
    assert not (run / "eval_test.json").exists()
    assert main(["explain", str(run), "--out", str(tmp_path / "maps")]) == 2 and not (tmp_path / "maps").exists()


def test_a_run_without_test_images_says_so_instead_of_scoring_an_empty_split(tmp_path, capsys):
    images, labels = make_images(60)
    _folder(tmp_path / "data", images, labels)
    run = tmp_path / "run"
    m = medtrain.train(fast_config(tmp_path / "data", run, epochs=1, bootstrap=0, test_fraction=0.0), verbose=False)
    assert m["test"] == {}
    capsys.readouterr()
    assert main(["eval", str(run)]) == 2  # was a ValueError traceback from the confusion matrix
    assert capsys.readouterr().err == (f"medtrain: error: {run} has no test images to evaluate (its data were split "
                                       "with test_fraction 0 or hold no test split)\n")
    assert main(["eval", str(run), "--split", "val"]) == 0


def test_a_run_trained_on_a_relative_path_is_evaluated_from_any_folder(tmp_path, monkeypatch, capsys):
    images, labels = make_images(60)
    _folder(tmp_path / "project" / "data", images, labels)
    monkeypatch.chdir(tmp_path / "project")
    m = medtrain.train(fast_config("data", "runs/r", epochs=1, bootstrap=0), verbose=False)
    assert read_config(tmp_path / "project" / "runs" / "r")["data"] == str(tmp_path / "project" / "data")
    monkeypatch.chdir(tmp_path)  # a script elsewhere: 'data' would name nothing here
    capsys.readouterr()
    assert main(["eval", "project/runs/r"]) == 0, capsys.readouterr().err
    assert medtrain.evaluate("project/runs/r", verbose=False)["auc"] == pytest.approx(m["test"]["auc"], abs=1e-9)


def test_a_resumed_or_reused_run_checks_its_data_too(tmp_path, capsys):
    # an interrupted run resumed after its folder gained images re-split the data: the images it had trained on
    # before the interrupt could become test images; a finished cross-validation fold was reused the same way
    from conftest import InterruptAt

    images, labels = make_images(80)
    _folder(tmp_path / "data", images, labels)
    run = tmp_path / "cut"
    with pytest.raises(TrainingInterrupted, match="--resume"):
        medtrain.train(fast_config(tmp_path / "data", run, epochs=3, bootstrap=0, batch_size=8), verbose=False,
                       callbacks=[InterruptAt(1)])
    assert (run / "splits.csv").is_file()  # written when the run starts, not only when it ends
    more, more_labels = make_images(10, seed=5)
    _folder(tmp_path / "data", more, more_labels, start=1000)
    with pytest.raises(MedtrainError, match="changed since it was trained: 10 input"):
        medtrain.train({"progress": False}, resume=run, verbose=False)
    assert not (run / "metrics.json").exists()
    done = tmp_path / "done"
    medtrain.train(fast_config(tmp_path / "data", done, epochs=1, bootstrap=0), verbose=False)
    _folder(tmp_path / "data", more[:2], more_labels[:2], start=2000)
    with pytest.raises(MedtrainError, match="changed since it was trained: 2 input"):
        medtrain.api.train_or_reuse(fast_config(tmp_path / "data", done, epochs=1, bootstrap=0))


def test_a_renamed_class_is_not_evaluated_with_swapped_outputs(tmp_path, capsys):
    # classes are numbered by sorted name: renaming benign -> normal re-numbers them and eval would score the
    # network's outputs against swapped labels (AUC 1 - x), exit 0
    rows = png_csv(tmp_path, *make_images(80), ("benign", "malignant")).read_text().splitlines()
    run = tmp_path / "run"
    medtrain.train(fast_config(tmp_path / "labels.csv", run, epochs=1, bootstrap=0), verbose=False)
    (tmp_path / "labels.csv").write_text("\n".join(rows).replace(",benign", ",normal") + "\n")
    capsys.readouterr()
    assert main(["eval", str(run)]) == 2
    assert "changed since" in capsys.readouterr().err and not (run / "eval_test.json").exists()
    with pytest.raises(MedtrainError, match="benign, malignant then, malignant, normal now"):
        medtrain.evaluate(run, verbose=False)


def test_a_splits_record_of_another_layout_is_compared_by_input_and_split_only(tmp_path):
    # what matters for leakage is which input went where; a group or fold column of another version is not
    images, labels = make_images(60)
    _folder(tmp_path / "data", images, labels)
    run = tmp_path / "run"
    m = medtrain.train(fast_config(tmp_path / "data", run, epochs=1, bootstrap=0), verbose=False)
    rows = (run / "splits.csv").read_text().splitlines()
    (run / "splits.csv").write_text("\n".join(["split,input"] + [",".join(r.split(",")[:2][::-1]) for r in rows[1:]]))
    assert medtrain.evaluate(run, verbose=False)["auc"] == pytest.approx(m["test"]["auc"], abs=1e-9)
    moved = rows[1].split(",")
    other = {"train": "test", "val": "train", "test": "train"}[moved[1]]
    (run / "splits.csv").write_text("\n".join(rows[:1] + [f"{moved[0]},{other},"] + rows[2:]) + "\n")
    with pytest.raises(MedtrainError, match="0 input\\(s\\) added, 0 gone, 1 in another split"):
        medtrain.evaluate(run, verbose=False)


def test_train_leaves_the_callers_random_state_and_evaluate_names_an_unknown_split(tmp_path, monkeypatch):
    """A notebook's own draws after train() were those after seed 0 (Lightning seeds the global generators),
    and evaluate(split="validation") was an AttributeError (a user walkthrough)."""
    import os
    import random

    import numpy as np

    images, labels = make_images(60)
    _folder(tmp_path / "data", images, labels)
    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)
    torch.manual_seed(1234), np.random.seed(1234), random.seed(1234)
    expected = (torch.rand(1), np.random.rand(), random.random())
    torch.manual_seed(1234), np.random.seed(1234), random.seed(1234)
    medtrain.train(fast_config(tmp_path / "data", tmp_path / "r", epochs=1, bootstrap=0), verbose=False)
    assert (torch.rand(1), np.random.rand(), random.random()) == expected and "PL_GLOBAL_SEED" not in os.environ
    with pytest.raises(MedtrainError, match="unknown split 'validation': one of train, val, test"):
        medtrain.evaluate(tmp_path / "r", split="validation", verbose=False)


def test_the_predictions_file_says_of_each_test_image_its_true_label_and_whether_it_was_right(trained_run):
    """Failure analysis without joining label indices to class names by hand: true_label and correct, whose share
    of true is the run's test ACC."""
    import csv
    import json

    run, _, _ = trained_run
    with open(run / "predictions_test.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    m = json.loads((run / "metrics.json").read_text())
    names = m["data"]["classes"]
    assert [r["true_label"] for r in rows] == [names[int(r["label0"])] for r in rows]
    assert all(r["correct"] == str(r["prediction"] == r["true_label"]).lower() for r in rows)
    assert sum(r["correct"] == "true" for r in rows) / len(rows) == pytest.approx(m["test"]["acc"], abs=1e-9)


@pytest.mark.usefixtures("one_thread")
def test_the_flow_of_data_counts_the_inputs_listed_left_out_and_used(tmp_path):
    """A methods section reports how many images were excluded and why: metrics.json's data.flow and the report say
    it (they had been only in skipped.json)."""
    import json

    import numpy as np
    from PIL import Image

    import medtrain

    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(7):
            Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(tmp_path / "imgs" / c / f"{i}.png")
        (tmp_path / "imgs" / c / "broken.png").write_bytes(b"\x89PNG not really")
    run = tmp_path / "run"
    medtrain.train(dict(data=str(tmp_path / "imgs"), model="resnet10_28_half", epochs=1, skip_bad=True, flip="false",
                        progress=False, bootstrap=0, out=str(run), precision="32-true"), verbose=False)
    flow = json.loads((run / "metrics.json").read_text())["data"]["flow"]
    assert (flow["listed"], flow["excluded"], flow["used"]) == (16, 2, 14)
    assert {x["input"].split("/")[-1] for x in flow["excluded_examples"]} == {"broken.png"}
    assert "16 input(s) listed, 2 left out as unreadable" in (run / "report.html").read_text()
