"""Cross-validation folds of whole units (sets of pixel-identical copies, patients) hold 1/K of the images each only
as far as those units allow: a fold that a large unit swells far past 1/K is said in one line, as a fixed split's
share is (SplitShareWarning). 60 images and 21 copies of one of them had made fold 0 of 3 test 41 of the 81 images,
22 of them one picture, without a word."""
from __future__ import annotations

import warnings

import numpy as np

from medtrain.data._table_checks import SplitShareWarning
from medtrain.data.folder import load_folder
from medtrain.data.split import split_record

from test_split_duplicates import folder_with_copies

INPUTS = [f"{k}.png" for k in range(81)]
LABELS = np.array([0] * 30 + [1] * 30 + [0] * 21)
DIGESTS = [bytes([k]) * 16 for k in range(60)] + [bytes([0]) * 16] * 21  # rows 60..80 copy row 0


def _shares(folds, fold, **kw) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        split_record(INPUTS, LABELS, None, 0.1, 0.2, 0, None, folds, fold, source="d", **kw)
    return [str(w.message) for w in caught if issubclass(w.category, SplitShareWarning)]


def test_a_fold_swollen_by_copies_of_one_picture_is_said_in_one_line():
    (msg,) = _shares(3, 0, digests=DIGESTS)  # fold 0 holds the 22 alike: 41 of 81 images
    assert "\n" not in msg and msg.startswith("d: --folds 3, fold 0: test 0.51 of the images (asked 0.333): ")
    assert "22 pixel-identical copies of one image (27% of the 81 images) are kept in one split, test" in msg
    assert "the test intervals count each copy as an independent image" in msg
    (msg,) = _shares(5, 0, digests=DIGESTS)
    assert msg.startswith("d: --folds 5, fold 0: test 0.41 of the images (asked 0.2): ")


def test_folds_near_their_share_warn_of_none():
    for folds in (3, 5):
        for fold in range(1, folds):  # the folds without the copies: 20 (12) of 81, near 1/K
            assert _shares(folds, fold, digests=DIGESTS) == []
    for folds in (2, 3, 4, 5):  # no copies: every fold 1/K, as rounding allows
        for fold in range(folds):
            assert _shares(folds, fold) == []
            assert _shares(folds, fold, digests=[bytes([k]) * 16 for k in range(81)]) == []


def test_pairs_of_copies_leave_the_folds_as_asked():
    digests = [bytes([k]) * 16 for k in range(81)]
    for a, b in ((0, 61), (3, 70), (40, 41), (50, 80)):
        digests[b] = digests[a]
    for seed in range(4):
        with warnings.catch_warnings():
            warnings.simplefilter("error", SplitShareWarning)
            for fold in range(3):
                split_record(INPUTS, LABELS, None, 0.1, 0.2, seed, None, 3, fold, digests=digests)


def test_a_fold_swollen_by_one_patient_is_said_as_a_patients_split_is():
    """Patients are dealt into folds balancing their sizes: one of 31 of 90 images still makes its fold of 5 hold
    37 images (0.41 where 1/5 is due); the other folds are near 1/5 and say nothing."""
    inputs, labels = [f"{k}.png" for k in range(90)], np.array([0] * 30 + [1] * 30 + [0] * 30)
    groups = [f"p{k}" for k in range(60)] + ["p0"] * 30
    said = {}
    for fold in range(5):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            record = split_record(inputs, labels, None, 0.1, 0.2, 0, groups, 5, fold, source="d")
        said[fold] = [str(w.message) for w in caught if issubclass(w.category, SplitShareWarning)]
    fold = int(record.folds[0])
    assert [f for f in said if said[f]] == [fold]
    assert said[fold][0].startswith(f"d: --folds 5, fold {fold}: patient-level split: test 0.41 of the images "
                                    "(asked 0.2), as whole patients allow: the largest patient (p0 in splits.csv)")


def test_a_folder_with_twenty_one_copies_says_which_fold_they_swell(tmp_path):
    root = folder_with_copies(tmp_path / "mc", 21)
    said = {}
    for fold in range(3):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            s = load_folder(root, seed=0, folds=3, fold=fold)
        said[fold] = [str(w.message) for w in caught if issubclass(w.category, SplitShareWarning)]
        if len(s.test) > 30:
            swollen = fold
    assert said[swollen] and said[swollen][0].startswith(f"{root}: --folds 3, fold {swollen}: test 0.5")
    assert all(not said[f] for f in said if f != swollen)
