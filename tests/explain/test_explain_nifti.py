"""``medtrain explain`` of a NIfTI volume writes its map as ``NNNN_<name>_map.nii.gz``, which a viewer (3D Slicer,
ITK-SNAP, FSLeyes: they place images by their affine) lays exactly over the scan: its affine maps each map voxel to
the millimetres of the scan's voxels the network saw there, through the reorder to RAS, the resampling to the run's
--spacing and the crop or pad (or the resize) to its --volume-size. Only PNGs and maps.npz had been written, so a
CT/MRI user could not open a map over the scan; a run trained with --spacing 2,1.5,1.5 could not even read a NIfTI
input (its spacing had been read as one number)."""
from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest

import medtrain
from conftest import read_rows, run_cli
from medtrain.data._grid_affine import grid_affine
from medtrain.data.geometry import resample, resample_grid
from medtrain.data.nifti import ras_grid, to_ras
from medtrain.data.volumes import load_entry

pytestmark = pytest.mark.usefixtures("one_thread")

#: an LPS-like affine (x and y flipped), its voxel axes swapped (file axis 1 runs along S, axis 2 along A),
#: anisotropic voxels of 0.7 x 0.9 x 2.5 mm and an origin far from 0
AFFINE = np.array([[-0.7, 0.0, 0.0, 31.0],
                   [0.0, 0.0, -2.5, -12.0],
                   [0.0, 0.9, 0.0, 45.0],
                   [0.0, 0.0, 0.0, 1.0]])
SHAPE = (40, 30, 12)


def _blob_scan(path, at, shape=SHAPE, affine=AFFINE):
    """A dark scan of ``shape`` voxels with one bright 3-voxel blob centred at the voxel ``at``."""
    vol = np.zeros(shape, np.float32)
    vol[tuple(slice(a - 1, a + 2) for a in at)] = 1000.0
    vol[tuple(at)] = 2000.0
    nib.save(nib.Nifti1Image(vol, affine), str(path))
    return path


def _world(affine, index):
    return (np.asarray(affine, float) @ [*index, 1.0])[:3]


@pytest.mark.parametrize("spacing, size", [(None, 16), ((2.0, 1.5, 1.5), 24), ((3.0, 1.0, 2.0), 10), (2.5, 12)])
@pytest.mark.parametrize("at", [(29, 7, 4), (8, 22, 8)])
def test_the_map_affine_puts_the_blob_where_the_scan_has_it(tmp_path, spacing, size, at):
    """Decoded as predict and explain decode it (load_entry: resized, or resampled and cropped or padded), the blob's
    voxel in the model grid, through the written affine, is the blob's point in the scan, within one model voxel."""
    scan = _blob_scan(tmp_path / "scan.nii.gz", at)
    with warnings.catch_warnings():  # (a crop of the scan is said in a CutVolumeWarning; not what is tested here)
        warnings.simplefilter("ignore")
        arr, _ = load_entry(scan, spacing=spacing, size=size)
    d, h, w = np.unravel_index(np.argmax(arr), arr.shape)
    affine = grid_affine(scan, spacing=spacing, size=size)
    voxel = np.sqrt((affine[:3, :3] ** 2).sum(0))  # the model voxel's size along its x, y, z
    err = np.abs(_world(affine, (w, h, d)) - _world(AFFINE, at))
    # one model voxel: its diagonal, the farthest a voxel's centre lies from a point inside its neighbours
    assert np.linalg.norm(err) <= np.linalg.norm(voxel), (err, voxel)
    if spacing is not None:  # the grid is the run's spacing (rounded to whole voxels of the scan's extent)
        assert voxel[::-1] == pytest.approx(np.broadcast_to(spacing, 3), rel=0.1)


@pytest.mark.parametrize("spacing, size", [(None, (7, 9, 5)), ((2.0, 1.5, 0.7), (9, 10, 16)),
                                           ((1.0, 3.0, 2.0), (4, 4, 4))])
def test_resample_grid_is_where_trilinear_resampling_samples(spacing, size):
    """Exact, not within a voxel: trilinear interpolation reproduces a linear ramp, so each resampled voxel's value
    is the ramp at the index resample_grid gives (voxel centres, align_corners=False), wherever it is not clamped at
    the border nor padded."""
    shape, sp = (11, 8, 13), (1.3, 2.0, 0.9)
    idx = np.indices(shape).astype(np.float32)
    grid = resample_grid(shape, sp, spacing, size)
    src = [grid[a, a] * np.indices(size)[a] + grid[a, 3] for a in range(3)]  # each voxel's source index, per axis
    inside = np.all([(s >= 0) & (s <= n - 1) for s, n in zip(src, shape)], axis=0)  # not padded, not clamped
    assert inside.sum() > 0
    for axis in range(3):
        out = resample(idx[axis], sp, spacing, size)
        want = src[axis]
        np.testing.assert_allclose(out[inside], want[inside], atol=1e-4)


def test_ras_grid_is_the_affine_of_what_to_ras_returns():
    """The reorder to RAS: each voxel of to_ras's array, through ras_grid's affine, is the same point as in the
    scan (an array holding its own voxels' world coordinates), and the shape is the array's."""
    idx = np.indices(SHAPE).reshape(3, -1)
    world = (AFFINE[:3, :3] @ idx + AFFINE[:3, 3:]).reshape(3, *SHAPE)
    ras, shape = ras_grid(AFFINE, SHAPE)
    for c in range(3):
        arr, _ = to_ras(world[c], AFFINE)
        assert arr.shape == shape
        got = (ras[c, :3] @ np.indices(arr.shape).reshape(3, -1) + ras[c, 3]).reshape(arr.shape)
        np.testing.assert_allclose(arr, got, atol=1e-3)


# --------------------------------------------------------------------------- through medtrain explain


def _volume_run(root, spacing):
    """A 1-epoch 3D run on 14 NIfTI scans of the LPS-like affine (label: a bright cube), volume size 8."""
    root.mkdir()
    rng = np.random.default_rng(0)
    rows = ["path,label,split"]
    parts = ["train"] * 8 + ["val"] * 2 + ["test"] * 4
    for i, part in enumerate(parts):
        vol = rng.normal(0, 1, (14, 10, 6)).astype(np.float32)
        if i % 2:
            vol[4:9, 3:7, 2:5] += 4
        nib.save(nib.Nifti1Image(vol, AFFINE), str(root / f"v{i:02d}.nii.gz"))
        rows.append(f"v{i:02d}.nii.gz,{i % 2},{part}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    run = root / "run"
    medtrain.train(dict(data=str(root / "labels.csv"), model="resnet10_28_half", epochs=1, batch_size=4,
                        progress=False, bootstrap=0, volume_size=8, out=str(run), accelerator="cpu", flip="true",
                        precision="32-true", **({"spacing": spacing} if spacing else {})), verbose=False)
    return run


@pytest.mark.slow  # trains a 3D network: about 10 s
@pytest.mark.parametrize("spacing", [None, "2,1.5,1.5"])
def test_explain_writes_each_nifti_inputs_map_over_its_scan(tmp_path, capsys, spacing):
    """Through the command: one NIfTI map per NIfTI input, named as its overlay, float32 of the run's volume size,
    the map of maps.npz (transposed to RAS order), under the affine of the grid the run decoded it to; a scan
    with a blob (a shape not the training scans') puts it where the scan has it. A second explanation into the
    folder replaces the first's maps."""
    run = _volume_run(tmp_path / "data", spacing)
    at = (13, 5, 2)  # (a 14 x 12.5 x 10.8 mm scan: the 12 mm the spacing's crop keeps hold its blob)
    blob = _blob_scan(tmp_path / "blob scan.nii", at, shape=(20, 12, 5))
    inputs = [tmp_path / "data" / "v11.nii.gz", blob]
    out = tmp_path / "expl"
    code, _, err = run_cli(capsys, "explain", run, *inputs, "--out", out)
    assert code == 0, err
    with np.load(out / "maps.npz") as z:
        maps, overlays, niftis, images = z["maps"], list(z["overlays"]), list(z["nifti"]), z["images"]
    assert niftis == ["0000_v11_map.nii.gz", "0001_blob_scan_map.nii.gz"]
    assert [n.replace("_map.nii.gz", ".png") for n in niftis] == overlays
    parsed = None if spacing is None else tuple(float(v) for v in spacing.split(","))
    for i, (name, src) in enumerate(zip(niftis, inputs)):
        img = nib.load(str(out / name))
        assert img.shape == (8, 8, 8) and img.get_data_dtype() == np.float32
        np.testing.assert_array_equal(np.asarray(img.dataobj), maps[i].transpose(2, 1, 0))
        want = grid_affine(src, spacing=parsed, size=8)
        np.testing.assert_allclose(img.affine, want, atol=1e-4)
        assert int(img.header["sform_code"]) > 0 and int(img.header["qform_code"]) > 0
        np.testing.assert_allclose(img.header.get_qform(), want, atol=1e-4)  # both forms: every viewer agrees
    # the blob, found in the image the network took (the centre of its bright voxels: the 1-99 percentile
    # normalisation saturates a blob of more than 1% of the scan), lies where the scan has it, within a model voxel
    bright = np.argwhere(images[1, 0] >= images[1, 0].max() / 2)
    d, h, w = bright.mean(0)
    affine = nib.load(str(out / niftis[1])).affine
    voxel = np.sqrt((affine[:3, :3] ** 2).sum(0))
    assert np.linalg.norm(_world(affine, (w, h, d)) - _world(AFFINE, at)) <= np.linalg.norm(voxel)

    code, _, err = run_cli(capsys, "explain", run, blob, "--out", out)  # the first explanation's maps go
    assert code == 0, err
    assert sorted(p.name for p in out.glob("*.nii.gz")) == ["0000_blob_scan_map.nii.gz"]
    # the run's own test split (no INPUT): its NIfTI files' maps too
    code, _, err = run_cli(capsys, "explain", run, "--limit", "1", "--out", tmp_path / "own")
    assert code == 0, err
    own = list((tmp_path / "own").glob("*.nii.gz"))
    assert [p.name for p in own] == ["0000_v10_map.nii.gz"]
    np.testing.assert_allclose(nib.load(str(own[0])).affine,
                               grid_affine(tmp_path / "data" / "v10.nii.gz", spacing=parsed, size=8), atol=1e-4)


def test_a_2d_run_writes_no_nifti(trained_run, tmp_path, capsys):
    run, _, arrays = trained_run
    from PIL import Image

    Image.fromarray(arrays["test_images"][0]).save(tmp_path / "a.png")
    code, _, err = run_cli(capsys, "explain", run, tmp_path / "a.png", "--out", tmp_path / "expl")
    assert code == 0, err
    assert not list((tmp_path / "expl").glob("*.nii*"))
    with np.load(tmp_path / "expl" / "maps.npz") as z:
        assert list(z["nifti"]) == [""]


@pytest.mark.slow  # trains a 3D network: about 10 s
def test_predict_reads_a_nifti_input_of_a_run_trained_with_three_spacings(tmp_path, capsys):
    # `--spacing 2,1.5,1.5` had been handed to the decoder as the raw text and read as one number: predict of any
    # NIfTI file exited 2 with "spacing must be a positive number or three of them, got '2,1.5,1.5'"
    run = _volume_run(tmp_path / "data", "2,1.5,1.5")
    scans = [tmp_path / "data" / f"v{i}.nii.gz" for i in (10, 11, 12, 13)]  # the run's test scans
    code, _, err = run_cli(capsys, "predict", run, *scans, "--out", tmp_path / "p.csv")
    assert code == 0, err
    got = {r["input"]: r for r in read_rows(tmp_path / "p.csv")}
    for row in read_rows(run / "predictions_test.csv"):  # the probabilities the run's own evaluation gave them
        assert float(got[row["input"]]["1"]) == pytest.approx(float(row["1"]), abs=1e-5)


def test_a_map_of_a_source_in_micrometres_is_written_in_the_millimetres_of_its_affine(tmp_path):
    """The grid's affine is in millimetres (a header's micrometres are read as such): the map had been stamped with
    the source's unit, putting it 1000x off in a viewer (a review)."""
    import nibabel as nib

    from medtrain.explain.nifti_out import write_map

    source = nib.Nifti1Image(np.zeros((20, 20, 20), np.float32), np.diag([500.0, 500.0, 500.0, 1.0]))
    source.header.set_xyzt_units("micron")
    nib.save(source, str(tmp_path / "um.nii.gz"))
    affine = np.diag([0.5, 0.5, 0.5, 1.0])  # the source's 500 um voxels, in mm
    write_map(np.zeros((20, 20, 20), np.float32), affine, tmp_path / "map.nii.gz", str(tmp_path / "um.nii.gz"))
    written = nib.load(str(tmp_path / "map.nii.gz"))
    assert written.header.get_xyzt_units()[0] == "mm" and np.allclose(written.affine, affine)
