"""What predict and ``eval --data`` say, as a CT DICOM user met it: a series folder holding a report beside its slices
(a scanner's export) had refused that input and every other one of the command; ``eval --data`` had printed the
training data's ``--skip-bad`` lines, unlabelled, as if the external data had those problems."""
from __future__ import annotations

import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import medtrain
from conftest import read_rows, run_cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from test_dicom import write_series  # noqa: E402
from test_dicom_non_image_files import write_sr  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _ct(seed: int, lesion: bool) -> np.ndarray:
    v = np.full((12, 12, 12), -1000.0, np.float32)
    v[1:11, 1:11, 1:11] = np.random.default_rng(seed).normal(40, 10, (10, 10, 10))
    if lesion:
        v[4:8, 4:8, 4:8] += 300
    return v


@pytest.fixture(scope="module")
def skipping_run(tmp_path_factory):
    """A 1-epoch 3D run trained with --skip-bad on NIfTI CT volumes, one of its CSV's entries a broken file."""
    root = tmp_path_factory.mktemp("skipping")
    rows = ["path,label,split"]
    for i, part in enumerate(["train"] * 8 + ["val"] * 2 + ["test"] * 4):
        nib.save(nib.Nifti1Image(_ct(i, bool(i % 2)), np.eye(4)), str(root / f"v{i:02d}.nii.gz"))
        rows.append(f"v{i:02d}.nii.gz,{i % 2},{part}")
    (root / "broken.nii.gz").write_bytes(b"not a volume")
    rows.append("broken.nii.gz,0,train")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    run = root / "run"
    medtrain.train(dict(data=str(root / "labels.csv"), model="resnet10_28_half", epochs=1, batch_size=4,
                        progress=False, bootstrap=0, volume_size=8, window="abdomen", out=str(run), skip_bad=True,
                        accelerator="cpu", flip="true", precision="32-true"), verbose=False)
    return run, root


def _series(folder: Path, seed: int) -> Path:
    vol = np.clip(_ct(seed, True)[:, :, :6].transpose(2, 0, 1) + 1024, 0, None).astype(np.int16)
    return write_series(folder, vol)


@pytest.mark.slow  # trains a 3D network: about 10 s
def test_a_report_beside_the_slices_leaves_the_series_predicted_and_is_said_once(skipping_run, tmp_path, capsys):
    run, _ = skipping_run
    with_sr, plain = _series(tmp_path / "with_sr", 1), _series(tmp_path / "plain", 2)
    write_sr(with_sr / "SR0001.dcm")
    code, _, err = run_cli(capsys, "predict", run, with_sr, plain, "--out", tmp_path / "p.csv")
    assert code == 0, err
    assert [r["input"] for r in read_rows(tmp_path / "p.csv")] == [str(with_sr), str(plain)]
    said = [line for line in err.splitlines() if "holds no image" in line]
    assert said == [f"medtrain: warning: {with_sr}: SR0001.dcm holds no image (a report, dose report or presentation "
                    f"state); left out, the series read from its 6 other files"]


@pytest.mark.slow
def test_eval_of_external_data_does_not_say_the_training_datas_skips_as_its_own(skipping_run, tmp_path, capsys,
                                                                                  caplog):
    run, root = skipping_run
    rows = ["path,label"] + [f"{root / f'v{i:02d}.nii.gz'},{i % 2}" for i in (10, 11, 12, 13)]
    (tmp_path / "bad.nii.gz").write_bytes(b"nor is this")
    ext = tmp_path / "ext.csv"
    ext.write_text("\n".join(rows + [f"{tmp_path / 'bad.nii.gz'},1"]) + "\n")
    code, out, err = run_cli(capsys, "eval", run, "--data", ext, "--skip-bad")
    assert code == 0, err
    logged = " ".join(r.getMessage() for r in caplog.records)  # (pytest's log capture: stderr outside it)
    assert "broken.nii.gz" not in out + err + logged  # the training data's skip: said when the run trained
    assert f"1 input(s) skipped (--skip-bad), with the reasons in its 'skipped'; the first: {tmp_path / 'bad.nii.gz'}" \
        in out  # the external data's own, said as its own
