"""Cross-validation folds: every fold checked before any trains, rare labels spread over the folds, and each
image of a fold's split named as splits.csv names it."""
from types import SimpleNamespace

import numpy as np
import pytest

from medtrain.data import load_splits
from medtrain.data.split import assign_splits, fold_ids
from medtrain.errors import MedtrainError
from conftest import make_images


def multilabel_npz(path, rare=(4, 1, 2)):
    """60/20/20 16x16 images with 3 labels; label 2 positive in only ``rare`` (train, val, test) images."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n, k, seed in zip(("train", "val", "test"), (60, 20, 20), rare, (0, 1, 2)):
        arrays[f"{split}_images"] = make_images(n, seed=seed)[0]
        labels = (rng.random((n, 3)) < [0.5, 0.4, 0]).astype(np.uint8)
        labels[:k, 2] = 1
        arrays[f"{split}_labels"] = labels
    np.savez(path, **arrays)
    return path


def _config(data, folds, fold):
    return SimpleNamespace(dataset=None, data=str(data), data_dir=None, size=28, image_size=None, seed=0,
                           folds=folds, fold=fold, group_column=None, val_fraction=0.1, test_fraction=0.2)


def test_a_rare_label_has_a_positive_in_every_fold_so_every_fold_loads(tmp_path):
    """5 positives of a label in train+val and 5 folds: one in each validation fold, 4 left to train on. Dealt as
    if unlabelled, they had fallen unevenly, and fold 3 was refused after folds 0-2 had trained."""
    data = multilabel_npz(tmp_path / "ml.npz")
    for k in range(5):
        s = load_splits(_config(data, 5, k))
        assert s.val.labels[:, 2].sum() == 1 and s.train.labels[:, 2].sum() == 4


def test_more_folds_than_a_label_s_positives_is_refused_naming_the_label():
    y = np.zeros((40, 2), np.int64)
    y[:20, 0] = 1
    y[:3, 1] = 1
    with pytest.raises(MedtrainError, match=r"^--folds 4 is more than the 3 images positive for label 'rare', so "
                                            r"some fold would lack one; use --folds 3 or fewer$"):
        fold_ids(y, None, 4, 0, {"0": "common", "1": "rare"})
    y[:, 1] = 1 - y[:, 1]  # and its negatives, where those are the rare value
    with pytest.raises(MedtrainError, match="the 3 images negative for label 1"):
        fold_ids(y, None, 4, 0)


@pytest.mark.parametrize("groups", [None, [f"p{i // 3}" for i in range(90)]])
def test_single_label_folds_are_sklearn_s_stratified_folds_as_before(groups):
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    y = np.random.default_rng(3).integers(0, 3, 90)
    if groups is None:
        parts = StratifiedKFold(5, shuffle=True, random_state=7).split(y, y)
    else:
        parts = StratifiedGroupKFold(5, shuffle=True, random_state=7).split(y, y, groups)
    want = np.zeros(90, np.int64)
    for k, (_, held) in enumerate(parts):
        want[held] = k
    assert (fold_ids(y, groups, 5, 7) == want).all()


def _patients(seed):
    """A few patients of 1-4 images each, labels 0/1 mixed within patients, and, for odd seeds, a split column."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, int(rng.integers(7, 15)))
    groups = [f"p{i}" for i, n in enumerate(sizes) for _ in range(n)]
    labels = np.where(rng.random(len(groups)) < 0.25, 1, 0) ^ np.array([int(g[1:]) % 3 == 0 for g in groups])
    splits = ["test" if int(g[1:]) % 4 == 0 else "train" for g in groups] if seed % 2 else None
    return labels.astype(np.int64), groups, splits


def test_every_fold_is_checked_when_any_loads_so_a_bad_fold_is_refused_before_fold_0_trains():
    """Either all K folds load, or each fold's load (fold 0's, before anything trains) is refused in the same
    line, naming the fold and class that fail and a number of folds that works."""
    refused = loaded = 0
    for seed in range(60):
        labels, groups, splits = _patients(seed)
        folds = 3 + seed % 2
        outcomes = []
        for k in range(folds):
            try:
                assign_splits(labels, splits, 0.1, 0.2, 0, groups, folds, k)
                outcomes.append(None)
            except MedtrainError as e:
                outcomes.append(str(e))
        assert len(set(outcomes)) == 1, (seed, outcomes)  # fold 0 loaded, a later fold refused: checked too late
        if outcomes[0] is None:
            loaded += 1
        elif "would have no image of class" in outcomes[0]:
            refused += 1
            msg = outcomes[0]
            assert msg.startswith(f"--folds {folds}: fold ") and " such patients among the " in msg and "\n" not in msg
            if "use --folds " in msg:  # the number it names does load, every fold of it
                fewer = int(msg.rsplit("use --folds ", 1)[1])
                for k in range(fewer):
                    assign_splits(labels, splits, 0.1, 0.2, 0, groups, fewer, k)
    assert refused and loaded  # both cases met


def test_each_fold_s_splits_name_their_images_as_splits_csv_does(tiny_npz):
    """A fold's val split, drawn from train+val, had its images named 0, 1, 2... in predictions_val.csv (their
    place in that fold), while splits.csv named them train/17...: out-of-fold predictions matched no image."""
    held = []
    for k in range(3):
        s = load_splits(_config(tiny_npz, 3, k))
        for i, part in enumerate(("train", "val", "test")):
            assert s.split(part).sources == [x for x, a in zip(s.record.inputs, s.record.assign) if a == i]
        held += s.val.sources
    assert sorted(held) == sorted([f"train/{i}" for i in range(96)] + [f"val/{i}" for i in range(32)])
    assert s.test.sources == [f"test/{i}" for i in range(32)]
    plain = load_splits(_config(tiny_npz, 0, None))  # without folds: no sources, files name the index as before
    assert plain.test.sources is None and plain.val.sources is None


def test_image_size_on_arrays_that_come_at_their_size_is_refused_not_ignored(tmp_path):
    """--image-size 32 on a .npz had trained at 28 pixels and recorded 32."""
    from medtrain import config as config_mod
    from conftest import make_npz

    data = make_npz(tmp_path / "tiny.npz")
    with pytest.raises(MedtrainError, match=r"--image-size 32 applies to image folders and CSVs only, not to .*\.npz"):
        config_mod.check_read(config_mod.resolve({"data": str(data), "image_size": 32}), {"image_size": 32})
