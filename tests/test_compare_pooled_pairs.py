"""Two cross-validated comparison cells of one seed are compared on their pooled out-of-fold predictions, image by
image: the same folds, so the same images, each scored by a network that did not train on it. The difference is
that of the two cells' own pooled AUCs (``cv.json``), DeLong's test is that of the pooled predictions, and folds
that held out other images are never paired."""
import csv
import json
import shutil

import numpy as np
import pytest

from conftest import fast_config, make_npz
from medtrain._crossval_pairs import pooled_versus
from medtrain.compare import compare
from medtrain.significance import delong_test


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    data = make_npz(root / "d.npz", sizes=(48, 24, 16))
    arrays = dict(np.load(data))
    for split in ("train", "val"):  # some labels flipped: pooled AUCs below 1 that the two rates tell apart
        arrays[f"{split}_labels"][::5] = 1 - arrays[f"{split}_labels"][::5]
    np.savez(data, **arrays)
    out = root / "grid"
    compare(fast_config(data, out, epochs=1, folds=2, bootstrap=50, tta="none"), {"lr": ["0.001", "0.01"]}, [0],
            out, verbose=False)
    return out


def _pooled(cell_dir):
    """Labels and positive-class probabilities of a cross-validation's fold files, read here as a user would."""
    y, p = [], []
    for k in range(2):
        with open(cell_dir / f"fold{k}" / "predictions_val.csv", newline="") as f:
            for row in csv.DictReader(f):
                y.append(int(row["label0"]))
                p.append(float(row["p1"]))
    return np.array(y), np.array(p)


def test_the_second_cells_pooled_auc_is_paired_with_the_firsts_under_the_tables(grid):
    first, second = grid / "lr=0.001" / "seed0", grid / "lr=0.01" / "seed0"
    auc = [json.loads((d / "cv.json").read_text())["oof"]["auc"] for d in (first, second)]
    (y, a), (y2, b) = _pooled(second), _pooled(first)
    assert np.array_equal(y, y2)  # the same images in the same order, as the folds dealt them
    p = delong_test(y, a, b)["p"]
    assert abs(auc[1] - auc[0]) > 0.01 and 0.01 < p < 0.99  # a difference DeLong weighs, not two AUCs of 1
    said = f"against lr=0.001 {auc[1] - auc[0]:+.3f} ["
    md = (grid / "summary.md").read_text()
    assert said in md and f"DeLong p = {p:.2g}." in md
    assert said in (grid / "summary.tex").read_text()


def test_folds_that_held_out_other_images_are_not_paired(grid, tmp_path):
    first = [grid / "lr=0.001" / "seed0" / f"fold{k}" for k in range(2)]
    other = [shutil.copytree(d, tmp_path / d.name) for d in (grid / "lr=0.01" / "seed0" / f"fold{k}" for k in range(2))]
    paired = pooled_versus(other, first, "val")
    assert paired["n"] == sum(1 for d in first for _ in open(d / "predictions_val.csv")) - 2
    rows = (other[1] / "predictions_val.csv").read_text().splitlines()  # another dealing: fold 1's first image
    (other[1] / "predictions_val.csv").write_text("\n".join([rows[0], rows[2], rows[1], *rows[3:]]) + "\n")
    assert pooled_versus(other, first, "val") == {"unpaired": "fold 1 held out other images"}
    # another size of the same images (their pixels' digests differ) is not another dealing
    metrics = json.loads((other[0] / "metrics.json").read_text())
    metrics["provenance"]["data_sha256"]["val"] = "0" * 64
    (other[0] / "metrics.json").write_text(json.dumps(metrics))
    assert "unpaired" not in pooled_versus(other[:1] + [first[1]], first, "val")
    assert pooled_versus(other[:1], first, "val") == {"unpaired": "1 fold against 2"}


def test_a_rerun_says_its_cross_validated_cells_were_reused(grid, capsys):
    """A rerun had said "cross-validated (2 folds)" of a cell it reused, where a cell without folds says "finished,
    skipped" (an interrupt walk)."""
    import yaml

    base = yaml.safe_load((grid / "lr=0.001" / "seed0" / "fold0" / "config.yaml").read_text())
    base = {k: base[k] for k in ("data", "model", "epochs", "batch_size", "bootstrap", "tta", "schedule",
                                 "accelerator", "flip", "precision", "class_weights", "folds")}
    compare({**base, "progress": False}, {"lr": ["0.001", "0.01"]}, [0], grid, verbose=True)
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("compare: ")]
    assert said == [f"compare: {grid / c / 'seed0'} cross-validated (2 folds), finished, skipped"
                    for c in ("lr=0.001", "lr=0.01")]
