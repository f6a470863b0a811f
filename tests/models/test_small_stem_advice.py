"""The small-input stem's warning names the setting that reaches the standard stem for the run's kind of data
(walk 'netzoo'): it had told every run "--image-size 65 or more gives it", which train refuses for a MedMNIST set
(there the set's --size 128 or 224 does; 64 is still the small stem) and for an .npz (read at its size)."""
from __future__ import annotations

import pytest

from medtrain.models.input_size import small_stem_note, stem_of


def test_image_files_are_told_image_size():
    note = small_stem_note("resnet18", 64, 3, 2, data_kind="files")
    assert note.endswith("--image-size 65 or more gives it")


def test_a_medmnist_set_is_told_its_size_not_image_size():
    note = small_stem_note("resnet18", 28, 1, 2, data_kind="medmnist")
    assert "--image-size" not in note
    assert "--size 128 or 224" in note and "64 px files still get the small stem" in note


def test_an_npz_is_told_no_setting_gives_it():
    note = small_stem_note("resnet18", 28, 1, 2, data_kind="npz")
    assert "--image-size" not in note and "--size" not in note
    assert "no setting gives it" in note


def test_data_not_known_names_each_kind_s_setting():
    note = small_stem_note("resnet18", 64)
    assert "--image-size 65 or more" in note and "--size 128 or 224 for a MedMNIST set" in note


def test_an_unknown_data_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="data_kind"):
        small_stem_note("resnet18", 64, data_kind="folder")


def test_stem_of_says_which_stem_and_the_standard_one_s_cost():
    small = stem_of("resnet18", 64, 3, 3)
    assert small["stem"] == "small-input"
    assert small["standard_stem"]["macs"] == 148_047_360  # create_model('resnet18', num_classes=3) at 64 px
    assert small["macs"] > 10 * small["standard_stem"]["macs"]
    assert stem_of("resnet18", 65)["stem"] == "standard"
    assert stem_of("resnet10_28_half", 64) is None  # medtrain's own: no stem choice
    cannot = stem_of("inception_v3", 64)
    assert cannot["stem"] == "small-input" and cannot["standard_stem"] is None and cannot["standard_fault"]
