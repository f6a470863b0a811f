"""``medtrain explain`` of a DICOM series folder writes its map as ``NNNN_<name>_map.nii.gz``, as it does for a NIfTI
file, under an affine in RAS millimetres (NIfTI's world; DICOM's patient coordinates are LPS, x and y negated), so
that 3D Slicer, which loads the series itself, shows the map on the same anatomy. A series had got no map at all
("none yet for a DICOM series"): its geometry was built inside the reader and not returned.

The expected points are computed here from the DICOM tags by the standard's formula (PS3.3 C.7.6.2.1.1), not by
medtrain's code: voxel (column i, row j) of a slice lies at ``IPP + i * PixelSpacing[1] * X + j * PixelSpacing[0] *
Y`` (LPS), X and Y the row and column direction cosines of ImageOrientationPatient."""
from __future__ import annotations

import random
import warnings

import nibabel as nib
import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

import medtrain
from conftest import run_cli
from medtrain.data._grid_affine import grid_affine
from medtrain.data.dicom import read_dicom_series, read_dicom_series_grid
from medtrain.data.volumes import load_entry

pytestmark = pytest.mark.usefixtures("one_thread")

_C, _S = np.cos(np.radians(25)), np.sin(np.radians(25))
#: ImageOrientationPatient (row direction X, column direction Y), none of them the plain axial (1,0,0, 0,1,0)
ORIENTATIONS = {
    "axial, rows and columns flipped": (-1, 0, 0, 0, -1, 0),
    "coronal": (1, 0, 0, 0, 0, -1),
    "sagittal": (0, 1, 0, 0, 0, -1),
    "oblique": (_C, _S, 0, 0, 0, -1),  # a coronal plane turned 25 degrees about the body axis
}
ORIGIN = np.array([-31.0, 17.5, 42.0])  #: ImagePositionPatient of the first slice written (LPS mm)
PIXEL_SPACING = (0.7, 0.9)  #: (between rows, between columns) mm
STEP = 2.5  #: mm between slices, along the normal


def _write_series(folder, volume, orientation, *, reverse=False):
    """``volume`` ``(slices, rows, cols)`` as an MR series, slice ``k`` at ``ORIGIN + k * STEP * normal`` (its
    files in shuffled order); ``reverse``: the normal negated (slices written from the far end). Returns each
    slice's ImagePositionPatient."""
    x, y = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
    normal = np.cross(x, y) * (-1 if reverse else 1)
    positions = [ORIGIN + k * STEP * normal for k in range(len(volume))]
    uid = generate_uid()
    order = list(range(len(volume)))
    random.Random(1).shuffle(order)
    folder.mkdir(parents=True)
    for n, k in enumerate(order):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID, ds.Modality = uid, "MR"
        ds.Rows, ds.Columns = volume.shape[1:]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.ImageOrientationPatient = [float(v) for v in orientation]
        ds.ImagePositionPatient = [float(v) for v in positions[k]]
        ds.PixelSpacing = list(PIXEL_SPACING)
        ds.PixelData = volume[k].astype(np.int16).tobytes()
        ds.save_as(folder / f"IM{n:04d}", enforce_file_format=True)  # named as scanners export them, no .dcm
    return positions


def _blob_series(folder, orientation, at, shape=(9, 36, 30), reverse=False):
    """A dark series of ``shape`` (slices, rows, cols) with one bright 3-voxel blob centred at ``at`` (slice, row,
    col); returns the blob centre's point in RAS mm, from the tags by the standard's formula."""
    vol = np.full(shape, 10, np.int16)
    vol[tuple(slice(a - 1, a + 2) for a in at)] = 1000
    vol[tuple(at)] = 2000
    positions = _write_series(folder, vol, orientation, reverse=reverse)
    k, row, col = at
    x, y = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
    lps = positions[k] + col * PIXEL_SPACING[1] * x + row * PIXEL_SPACING[0] * y
    return lps * [-1, -1, 1]  # LPS -> RAS


def _world(affine, index):
    return (np.asarray(affine, float) @ [*index, 1.0])[:3]


def _within_a_voxel(affine, index, point):
    voxel = np.sqrt((affine[:3, :3] ** 2).sum(0))  # the model voxel's size along its x, y, z
    err = np.linalg.norm(_world(affine, index) - point)
    assert err <= np.linalg.norm(voxel), (err, voxel)  # its diagonal: the farthest a centre lies from a neighbour


@pytest.mark.parametrize("orientation", list(ORIENTATIONS))
@pytest.mark.parametrize("spacing, size, reverse", [(None, 12, False), ((2.0, 1.5, 1.5), 10, True),
                                                    (2.5, 16, False)])
def test_the_map_affine_puts_the_blob_where_the_series_has_it(tmp_path, orientation, spacing, size, reverse):
    """Decoded as predict and explain decode a series (load_entry), the blob's voxel in the model grid, through the
    affine of that grid, is the blob's point (RAS) by the DICOM standard, within one model voxel."""
    at = (5, 21, 11)  # (an off-centre blob that the crops keep)
    want = _blob_series(tmp_path / "series", ORIENTATIONS[orientation], at, reverse=reverse)
    with warnings.catch_warnings():  # (a crop of the scan is said in a CutVolumeWarning; not what is tested here)
        warnings.simplefilter("ignore")
        arr, _ = load_entry(tmp_path / "series", spacing=spacing, size=size)
    d, h, w = np.argwhere(arr == arr.max()).mean(0)  # (its brightest voxels: more than one where uint8 ties them)
    affine = grid_affine(tmp_path / "series", spacing=spacing, size=size)
    assert affine is not None
    _within_a_voxel(affine, (w, h, d), want)


def test_the_series_grid_from_headers_is_that_of_the_decoded_volume(tmp_path):
    """The headers alone give the decoded array's shape and voxel sizes (the geometry read_dicom_series decodes,
    without its pixel data)."""
    _blob_series(tmp_path / "s", ORIENTATIONS["oblique"], (3, 5, 6))
    vol = read_dicom_series(tmp_path / "s")
    ras, shape = read_dicom_series_grid(tmp_path / "s")
    assert shape == vol.array.shape
    np.testing.assert_allclose(np.sqrt((ras[:3, :3] ** 2).sum(0)), vol.spacing, rtol=1e-6)


# --------------------------------------------------------------------------- through medtrain explain


def _series_run(root):
    """A 1-epoch 3D run on 14 coronal DICOM series (label: a bright cube), volume size 8, --spacing 2."""
    rng = np.random.default_rng(0)
    rows = ["path,label,split"]
    parts = ["train"] * 8 + ["val"] * 2 + ["test"] * 4
    for i, part in enumerate(parts):
        vol = rng.integers(0, 200, (6, 10, 12)).astype(np.int16)
        if i % 2:
            vol[2:5, 3:7, 4:9] += 800
        _write_series(root / f"case{i:02d}", vol, ORIENTATIONS["coronal"])
        rows.append(f"case{i:02d},{i % 2},{part}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    run = root / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        medtrain.train(dict(data=str(root / "labels.csv"), model="resnet10_28_half", epochs=1, batch_size=4,
                            progress=False, bootstrap=0, volume_size=8, spacing="2", out=str(run),
                            accelerator="cpu", flip="true", precision="32-true"), verbose=False)
    return run


@pytest.mark.slow  # trains a 3D network: about 10 s
def test_explain_writes_a_dicom_series_map_over_the_series(tmp_path, capsys):
    """Through the command: a DICOM series folder gets its map, named as its overlay, float32 of the run's volume
    size, maps.npz's map in RAS order, in scanner space in mm, under the affine of the grid the run decoded it to;
    the blob of an oblique series (a shape not the training series') lies, through it, where the tags put it."""
    run = _series_run(tmp_path / "data")
    want = _blob_series(tmp_path / "blob series", ORIENTATIONS["oblique"], (3, 8, 7), shape=(7, 14, 12))
    inputs = [tmp_path / "data" / "case11", tmp_path / "blob series"]
    out = tmp_path / "expl"
    code, _, err = run_cli(capsys, "explain", run, *inputs, "--out", out)
    assert code == 0, err
    with np.load(out / "maps.npz") as z:
        maps, overlays, niftis, images = z["maps"], list(z["overlays"]), list(z["nifti"]), z["images"]
    assert niftis == ["0000_case11_map.nii.gz", "0001_blob_series_map.nii.gz"]
    assert [n.replace("_map.nii.gz", ".png") for n in niftis] == overlays
    for i, (name, src) in enumerate(zip(niftis, inputs)):
        img = nib.load(str(out / name))
        assert img.shape == (8, 8, 8) and img.get_data_dtype() == np.float32
        np.testing.assert_array_equal(np.asarray(img.dataobj), maps[i].transpose(2, 1, 0))
        np.testing.assert_allclose(img.affine, grid_affine(src, spacing=2.0, size=8), atol=1e-4)
        assert int(img.header["sform_code"]) == 1 and int(img.header["qform_code"]) == 1  # scanner anatomical
        assert img.header.get_xyzt_units()[0] == "mm"
    bright = np.argwhere(images[1, 0] >= images[1, 0].max() / 2)  # the blob in the image the network took
    d, h, w = bright.mean(0)
    _within_a_voxel(nib.load(str(out / niftis[1])).affine, (w, h, d), want)
