"""What a volume must be, and what is said of it, before a 3D run trains on it or predicts it.

A walkthrough with its own NIfTI volumes found four silent paths: a single slice saved as ``(X, Y, 1)`` was
stretched to ``--volume-size`` slices and predicted (the same slice as ``(X, Y)`` was refused, with a hint about
4D series); an MR-like volume (no air) was windowed as CT without a word, though README said it was refused; with
``--spacing`` a 96 mm scan was cut to its central 48 mm, its finding with it, and predicted as an empty volume; and
a header in micrometres collapsed a scan to one voxel, predicted with exit 0.
"""
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medtrain.cli import main
from medtrain.data.geometry import CutVolumeWarning
from medtrain.data.nifti import NoAirWarning, read_nifti
from medtrain.data.volumes import load_entry, load_volume_folder
from medtrain.errors import MedtrainError


def _save(path: Path, data: np.ndarray, spacing=(1.0, 1.0, 1.0)) -> Path:
    nib.save(nib.Nifti1Image(np.asarray(data, np.float32), np.diag([*spacing, 1.0])), str(path))
    return path


def _ct(shape=(8, 8, 8), seed: int = 0) -> np.ndarray:
    v = np.full(shape, -1000.0)  # air around the body
    inner = tuple(slice(1, n - 1) if n > 2 else slice(None) for n in shape)
    v[inner] = np.random.default_rng(seed).normal(40, 10, v[inner].shape)
    return v


def _csv(root: Path, names: list[str]) -> Path:
    (root / "labels.csv").write_text("path,label\n" + "".join(f"{n},{i % 2}\n" for i, n in enumerate(names)))
    return root / "labels.csv"


def _caught(fn, *args, **kw):
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        out = fn(*args, **kw)
    return out, [w for w in said if issubclass(w.category, (CutVolumeWarning, NoAirWarning))]


# --------------------------------------------------------------------------- one slice is no volume


@pytest.mark.parametrize("shape", [(12, 12, 1), (12, 1, 12), (1, 12, 12), (12, 12, 1, 1)])
def test_a_single_slice_nifti_is_refused_naming_the_file_and_its_shape(tmp_path, shape):
    p = _save(tmp_path / "slab.nii.gz", np.random.default_rng(0).random(shape))
    for read in (read_nifti, lambda q: load_entry(q, size=8)):
        with pytest.raises(MedtrainError, match=r"slab\.nii\.gz: NIfTI image of shape \(.*\) has 1 voxel along "
                                                r"axis \d: a 2D slice, not a 3D volume") as e:
            read(p)
        assert "\n" not in str(e.value) and "4D" not in str(e.value)


def test_a_2d_nifti_is_told_to_be_a_slice_not_to_split_a_4d_series(tmp_path):
    p = _save(tmp_path / "twod.nii.gz", np.random.default_rng(0).random((12, 12)))
    with pytest.raises(MedtrainError, match=r"twod\.nii\.gz: NIfTI image has 2 dimensions \(12, 12\)") as e:
        read_nifti(p)
    assert "4D" not in str(e.value) and "save the whole scan" in str(e.value)
    four = _save(tmp_path / "four.nii.gz", np.zeros((6, 6, 6, 3)))
    with pytest.raises(MedtrainError, match=r"4 dimensions .*split a 4D series into one file per volume"):
        read_nifti(four)


def test_a_training_csv_with_a_single_slice_lists_it_as_skipped_with_the_reason(tmp_path):
    names = [_save(tmp_path / f"v{i}.nii.gz", _ct(seed=i)).name for i in range(6)]
    names.append(_save(tmp_path / "slab.nii.gz", _ct((8, 8, 1))).name)
    s = load_volume_folder(tmp_path, _csv(tmp_path, names), size=8, skip_bad=True, cache_dir=tmp_path / "c",
                           val_fraction=0.2, test_fraction=0.2)
    assert [x["path"] for x in s.extra["skipped"]] == [str(tmp_path / "slab.nii.gz")]
    assert "a 2D slice, not a 3D volume" in s.extra["skipped"][0]["reason"]


def test_predict_of_a_3d_run_refuses_a_single_slice_nifti_naming_it(tmp_path):
    from medtrain.predict_inputs import iter_inputs
    from medtrain.runmodel import untrained_run_model

    run = untrained_run_model("resnet10_28_half", input_size=8, spatial_dims=3)
    slab = _save(tmp_path / "slab.nii.gz", _ct((8, 8, 1)))
    with pytest.raises(MedtrainError, match=r"slab\.nii\.gz: NIfTI image of shape \(8, 8, 1\)"):
        [item.load() for item in iter_inputs([slab], run)]


# --------------------------------------------------------------------------- --window on a NIfTI without air


def test_a_windowed_nifti_without_air_is_said_naming_it_and_its_values(tmp_path):
    mr_like = (_ct() + 1000) * 0.5  # a CT rescaled to 0..520: no air, within the window, not refused
    p = _save(tmp_path / "mr_like.nii.gz", mr_like)
    (arr, windowed), said = _caught(load_entry, p, size=8, window=(100, 1000))
    assert windowed and len(said) == 1 and said[0].category is NoAirWarning
    assert str(said[0].message).startswith(f"{p}: values ") and "none has a value below -500" in str(said[0].message)
    assert "drop --window for MR/PET volumes" in str(said[0].message)
    _, said = _caught(load_entry, _save(tmp_path / "ct.nii.gz", _ct()), size=8, window=(100, 1000))
    assert said == []  # a CT with air: nothing to say


def test_a_windowed_data_set_says_its_volumes_without_air_in_one_line_with_their_count_each_time(tmp_path):
    names = [_save(tmp_path / f"ct{i}.nii.gz", _ct(seed=i)).name for i in range(6)]
    names += [_save(tmp_path / f"mr{i}.nii.gz", (_ct(seed=i) + 1000) * 0.5).name for i in range(2)]
    for _ in range(2):  # decoded, then from the cache
        _, said = _caught(load_volume_folder, tmp_path, _csv(tmp_path, names), size=8, window=(100, 1000),
                          cache_dir=tmp_path / "c", val_fraction=0.25, test_fraction=0.25)
        assert len(said) == 1 and "2 of 8 NIfTI volume(s) were windowed as CT" in str(said[0].message)


# --------------------------------------------------------------------------- --spacing crops, and absurd headers


def test_predict_says_an_input_whose_field_of_view_the_crop_cuts(tmp_path):
    big = _save(tmp_path / "big.nii.gz", _ct((48, 48, 48)))  # 48 mm, of which 8 voxels of 3 mm keep 24
    (arr, _), said = _caught(load_entry, big, spacing=3, size=8)
    assert arr.shape == (8, 8, 8) and len(said) == 1 and said[0].category is CutVolumeWarning
    text = str(said[0].message)
    assert text.startswith(f"{big}: 48 x 48 x 48 mm cut to its central 24 x 24 x 24 mm") and "50%" in text
    _, said = _caught(load_entry, _save(tmp_path / "fits.nii.gz", _ct((26, 26, 26))), spacing=3, size=8)
    assert said == []  # 26 mm in a 24 mm box: under a tenth cut, not said
    _, said = _caught(load_entry, big, size=8)
    assert said == []  # without --spacing the volume is resized whole


def test_a_data_set_says_how_many_volumes_the_crop_cuts_in_one_line_each_time_it_is_loaded(tmp_path):
    names = [_save(tmp_path / f"s{i}.nii.gz", _ct(seed=i)).name for i in range(5)]  # 8 mm: padded
    names += [_save(tmp_path / f"b{i}.nii.gz", _ct((40, 40, 40), seed=i)).name for i in range(3)]
    for _ in range(2):  # decoded, then from the cache
        _, said = _caught(load_volume_folder, tmp_path, _csv(tmp_path, names), spacing=2, size=8,
                          cache_dir=tmp_path / "c", val_fraction=0.25, test_fraction=0.25)
        assert len(said) == 1 and said[0].category is CutVolumeWarning
        assert "3 of 8 volume(s) were cut to their central 16 x 16 x 16 mm by --volume-size 8 at --spacing 2 mm" \
            in str(said[0].message)


def test_a_header_in_micrometres_is_refused_naming_the_file_and_its_voxel_size(tmp_path):
    p = _save(tmp_path / "microns.nii.gz", _ct((16, 16, 16)), spacing=(0.001, 0.001, 0.001))
    with pytest.raises(MedtrainError, match=r"microns\.nii\.gz: voxels of \(0\.001, 0\.001, 0\.001\) mm \(header\) "
                                            r"make a 0\.016 x 0\.016 x 0\.016 mm volume, less than 2 voxels") as e:
        load_entry(p, spacing=1.5, size=8)
    assert "\n" not in str(e.value)


def test_predict_of_a_spacing_run_refuses_a_header_in_micrometres(tmp_path):
    from medtrain.predict_inputs import iter_inputs
    from medtrain.runmodel import untrained_run_model

    run = untrained_run_model("resnet10_28_half", input_size=8, spatial_dims=3, spacing="1.5")
    p = _save(tmp_path / "microns.nii.gz", _ct((16, 16, 16)), spacing=(0.001, 0.001, 0.001))
    with pytest.raises(MedtrainError, match=r"microns\.nii\.gz: voxels of \(0\.001"):
        [item.load() for item in iter_inputs([p], run)]


def test_the_help_says_spacing_crops_to_the_volume_size_rather_than_resizing(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = "".join(capsys.readouterr().out.split())  # (argparse wraps lines at hyphens too, by the terminal's width)
    for said in ("centre-cropped or padded to it", "centre-crop or pad to --volume-size instead of resizing"):
        assert "".join(said.split()) in out, said


def test_volume_size_is_refused_for_data_it_cannot_resize_and_taken_for_dicom_nifti_volumes(tmp_path, tiny_npz):
    """A walk's ``--volume-size 16`` on a .npz of volumes trained at 28 voxels a side and recorded 16, and was recorded
    for 2D data too, where ``--spacing`` and ``--window`` are refused: it is refused alike, typed."""
    from conftest import make_images, png_csv
    from medtrain import config as config_mod
    from medtrain.config.checks import check_typed_for_a_new_run

    def typed(**given):
        check_typed_for_a_new_run(config_mod.resolve(given), given=list(given))

    for data, what in ((str(tiny_npz), "a .npz of fixed-size arrays"),
                       (str(png_csv(tmp_path, *make_images(4))), "a table of 2D images")):
        with pytest.raises(MedtrainError, match=f"^--volume-size 16 applies to DICOM/NIfTI volumes only, not to .*{what}"):
            typed(data=data, volume_size=16)
    with pytest.raises(MedtrainError, match=r"MedMNIST set adrenalmnist3d \(its --size picks 28 or 64 pixels\)"):
        typed(dataset="adrenalmnist3d", volume_size=16)
    volumes = tmp_path / "vol"
    volumes.mkdir()
    typed(data=str(_csv(volumes, [_save(volumes / f"{i}.nii.gz", _ct()).name for i in range(2)])), volume_size=16)
    check_typed_for_a_new_run(config_mod.resolve({"data": str(tiny_npz), "volume_size": 16}), given=None)  # a saved run's


def test_an_ensemble_of_more_networks_than_a_run_can_hold_is_refused_before_any_is_built():
    from medtrain import config as config_mod
    from medtrain.config.checks import MAX_MEMBERS

    assert config_mod.resolve({"members": MAX_MEMBERS}).members == MAX_MEMBERS
    with pytest.raises(MedtrainError, match=f"^members must be 1 to {MAX_MEMBERS} .*, got 100000$"):
        config_mod.resolve({"members": 100000})


def test_a_volume_side_past_what_resampling_allows_is_refused_and_an_intensity_op_that_blacks_volumes_out_too():
    from medtrain import config as config_mod
    from medtrain.augment.volume import RandomIntensity3d
    from medtrain.config.checks import MAX_VOLUME_SIDE
    from medtrain.data.geometry import MAX_RESAMPLED_VOXELS

    assert MAX_VOLUME_SIDE ** 3 == MAX_RESAMPLED_VOXELS and config_mod.resolve({"volume_size": 512}).volume_size == 512
    with pytest.raises(MedtrainError, match="^volume_size must be 4 to 512 voxels a side, got 1024$"):
        config_mod.resolve({"volume_size": 1024})
    # a factor 1 +- 5 (or a shift of 5) sent 38-41% of volumes to black, with exit 0 (a walk)
    for params in ({"scale": -5}, {"scale": 1.5}, {"shift": 5}, {"shift": -0.1}):
        with pytest.raises(MedtrainError, match=r"^3d_intensity intensity_(scale|shift) must be in \[0, 1\)"):
            RandomIntensity3d(**params)
    RandomIntensity3d(scale=0.5, shift=0.5)


def test_a_header_s_spatial_unit_is_honoured_micrometres_and_metres_read_as_the_same_millimetres(tmp_path):
    """A correct header in micrometres (or metres) had been read as millimetres and refused under --spacing as "another
    unit than mm", the guess the wrong way round (a walk); ITK-based viewers honour the unit."""
    volume = _ct((10, 12, 14))
    read = {}
    for unit, side in (("mm", 1.0), ("micron", 1000.0), ("meter", 0.001)):
        image = nib.Nifti1Image(volume.astype(np.float32), np.diag([side, 2 * side, 3 * side, 1.0]))
        image.header.set_xyzt_units(unit)
        nib.save(image, str(tmp_path / f"{unit}.nii.gz"))
        read[unit] = read_nifti(tmp_path / f"{unit}.nii.gz")
    for unit in ("micron", "meter"):
        assert np.allclose(read[unit].spacing, (1.0, 2.0, 3.0)) and np.array_equal(read[unit].array, read["mm"].array)
    resampled = [load_entry(tmp_path / f"{unit}.nii.gz", spacing=2.0, size=8, cache_dir=tmp_path / "c")[0]
                 for unit in ("mm", "micron", "meter")]  # under --spacing: the same voxels, none refused
    assert all(np.array_equal(r, resampled[0]) for r in resampled[1:])


def test_a_volume_size_from_a_config_file_on_data_at_their_size_is_said_not_applied(tiny_npz):
    """Typed, --volume-size is refused for such data; from a config file it had been recorded without a word (a
    claims walk), as an image_size there is said."""
    from medtrain import config as config_mod
    from medtrain.data import ImageSizeNotAppliedWarning, load_splits

    with pytest.warns(ImageSizeNotAppliedWarning, match=r"^volume_size 16 not applied: .*tiny\.npz, a \.npz of "
                                                        r"fixed-size arrays comes at its size"):
        load_splits(config_mod.resolve({"data": str(tiny_npz), "volume_size": 16}))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ImageSizeNotAppliedWarning)
        load_splits(config_mod.resolve({"data": str(tiny_npz)}))  # the default: nothing said
