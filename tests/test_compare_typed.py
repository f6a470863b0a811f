"""``compare`` refuses, before any cell trains and with nothing written, what ``train`` refuses typed for a new run
(:func:`medtrain.config.checks.check_typed_for_a_new_run`), in the same one line: ``--store mmap`` on a CSV of
DICOM files had trained every cell with a warning and recorded ``store: mmap``. A grid's setting still applies to
the cells that read it, and a finished grid run again is read. Training is replaced by canned metrics where what is
tested is the refusal; the finished grid is trained for real."""
from __future__ import annotations

import numpy as np
import pytest

import medtrain.compare as compare_mod
from medtrain.cli import main
from medtrain.errors import MedtrainError

from conftest import fast_config, make_images, png_csv


def _fake_training(monkeypatch) -> list:
    trained = []

    def fake(cfg):
        trained.append(cfg)
        return {"seed": cfg.seed, "test": {"auc": 0.8, "acc": 0.7}, "val": {"auc": 0.75}, "best_epoch": 0,
                "stop_epoch": 1, "wall_s": 1.0}

    monkeypatch.setattr(compare_mod, "train_or_reuse", fake)
    return trained


def _dicom_csv(root):
    """A CSV listing 16 2D DICOM files (16x16, 8-bit grey), two classes."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    images, labels = make_images(16)
    rows = ["path,label"]
    root.mkdir(parents=True)
    for i, (im, y) in enumerate(zip(images, labels[:, 0])):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta, ds.SOPClassUID, ds.SOPInstanceUID = meta, meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PatientID, ds.Rows, ds.Columns = "OT", f"p{i}", 16, 16
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PixelData = im.tobytes()
        ds.save_as(root / f"{i:02d}.dcm", enforce_file_format=True)
        rows.append(f"{i:02d}.dcm,{'ab'[y]}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root / "labels.csv"


def _base(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    arrays = {}
    for split, n, seed in (("train", 32, 0), ("val", 16, 1), ("test", 16, 2)):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = make_images(n, seed=seed)
    np.savez(tmp_path / "tiny.npz", **arrays)
    base = fast_config(tmp_path / "tiny.npz", None, epochs=1, bootstrap=0, val_fraction=0.25)
    base.pop("out")
    return base


def refused_by_train(tmp_path, monkeypatch, capsys) -> tuple[list, str]:
    """The flags of ``--store mmap`` on a CSV of DICOM files (the store under ``tmp_path / "cache"``), and
    ``train``'s one-line refusal of them (exit 2); shared by compare's and tune's tests of the same refusal."""
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    flags = ["--data", str(_dicom_csv(tmp_path / "xr")), "--store", "mmap", "--epochs", "1", "--no-progress"]
    assert main(["train", *flags, "--out", str(tmp_path / "run")]) == 2
    refused = capsys.readouterr().err
    assert "--store mmap:" in refused and refused.count("\n") == 1
    return flags, refused


def test_store_mmap_on_a_csv_of_dicom_files_is_refused_in_trains_line_before_any_cell_trains(tmp_path, monkeypatch,
                                                                                              capsys):
    trained = _fake_training(monkeypatch)
    flags, refused = refused_by_train(tmp_path, monkeypatch, capsys)
    assert main(["compare", *flags, "--vary", "lr=0.1,0.01", "--out", str(tmp_path / "cmp")]) == 2
    assert capsys.readouterr().err == refused
    assert not trained and not (tmp_path / "cmp").exists()


@pytest.mark.parametrize("over, grid, message", [
    ({"image_size": 32}, {"lr": ["0.1", "0.01"]}, "--image-size 32 applies to image folders and CSVs only"),
    # a cell's own value: flip false (or tta hflip) given to all, and the cell that contradicts it
    ({"flip": "false"}, {"tta": ["none", "hflip"]}, "flip false turns flips off in training and TTA"),
    ({"tta": "hflip"}, {"flip": ["true", "false"]}, "flip false turns flips off in training and TTA"),
    ({"mc_dropout": 3, "dropout": 0.5, "dropout_kind": "annealed", "anneal_epochs": 2}, {"epochs": ["1", "3"]},
     "mc_dropout with annealed dropout samples nothing"),
])
def test_a_setting_train_refuses_typed_stops_the_grid_before_any_cell_trains(tmp_path, monkeypatch, over, grid,
                                                                            message):
    trained = _fake_training(monkeypatch)
    base = {k: v for k, v in {**_base(tmp_path, monkeypatch), **over}.items() if k not in grid}
    with pytest.raises(MedtrainError, match=message):
        compare_mod.compare(base, grid, [0], tmp_path / "cmp", verbose=False)
    assert not trained and not (tmp_path / "cmp").exists()


@pytest.mark.parametrize("over, grid", [
    ({"store": "mmap"}, {"data": ["tiny.npz", "xr/labels.csv"]}),  # the .npz cell's store
    ({"image_size": 16}, {"data": ["tiny.npz", "png/labels.csv"]}),  # the CSV cell's size
    ({"milestones": [0.3]}, {"schedule": ["onecycle", "multistep"]}),  # the multistep cell's
])
def test_a_setting_of_the_grid_still_applies_to_the_cells_that_read_it(tmp_path, monkeypatch, over, grid):
    trained = _fake_training(monkeypatch)
    _dicom_csv(tmp_path / "xr")
    png_csv(tmp_path / "png", *make_images(16, seed=3), "ab", path="{i:02d}.png")
    grid = {k: [str(tmp_path / v) if k == "data" else v for v in vs] for k, vs in grid.items()}
    base = {k: v for k, v in {**_base(tmp_path, monkeypatch), **over}.items() if k not in grid}
    assert len(compare_mod.compare(base, grid, [0], tmp_path / "cmp", verbose=False)) == 2
    assert len(trained) == 2


def test_a_finished_grid_run_again_is_read_and_a_new_cell_of_it_refused(tmp_path, monkeypatch):
    # a grid that an older medtrain trained with --image-size on a .npz (its cell records image_size 16)
    base = {**_base(tmp_path, monkeypatch), "image_size": 16}
    with monkeypatch.context() as older:
        older.setattr(compare_mod, "_check_typed", lambda *a: None)
        first = compare_mod.compare(base, {"lr": ["0.1"]}, [0], tmp_path / "cmp", verbose=False)
    trained = _fake_training(monkeypatch)
    assert compare_mod.compare(base, {"lr": ["0.1"]}, [0], tmp_path / "cmp", verbose=False) == first
    assert not trained
    with pytest.raises(MedtrainError, match="--image-size 16 applies to image folders and CSVs only"):
        compare_mod.compare(base, {"lr": ["0.1", "0.01"]}, [0], tmp_path / "cmp", verbose=False)
    assert not trained and not (tmp_path / "cmp" / "lr=0.01").exists()


def count_label_csv_reads(monkeypatch) -> dict:
    """How many times each label CSV is read by what tells DICOM/NIfTI data (medtrain.data's read_label_csv)."""
    import medtrain.data as data_mod

    reads, read = {}, data_mod.read_label_csv

    def counted(path, *args, **kwargs):
        reads[str(path)] = reads.get(str(path), 0) + 1
        return read(path, *args, **kwargs)

    monkeypatch.setattr(data_mod, "read_label_csv", counted)
    return reads


def test_the_check_of_a_typed_store_reads_each_data_once_not_once_per_cell(tmp_path, monkeypatch):
    # 4 cells of 2 data: each CSV (and each of its DICOM files) had been read once per cell before the refusal
    trained = _fake_training(monkeypatch)
    first, second = _dicom_csv(tmp_path / "xr"), _dicom_csv(tmp_path / "xr2")
    base = {**_base(tmp_path, monkeypatch), "store": "mmap"}
    base.pop("data")
    reads = count_label_csv_reads(monkeypatch)
    with pytest.raises(MedtrainError, match=r"^--store mmap: .*xr/labels.csv, a CSV of DICOM/NIfTI entries"):
        compare_mod.compare(base, {"data": [str(first), str(second)], "lr": ["0.1", "0.01"]}, [0],
                            tmp_path / "cmp", verbose=False)
    assert reads == {str(first): 1, str(second): 1}
    assert not trained and not (tmp_path / "cmp").exists()
