"""predict, explain and ``eval --data`` say the volumes the run's ``--volume-size`` at its ``--spacing`` cuts, and those
windowed as CT though they hold no air, in one line each for the command, with their count and the first, as
training says them of a data set: each input had been said in a line of its own (200 scans predicted, 200 lines)."""
from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

import medtrain
from conftest import run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

CUT = "cut to their central"  #: the line of several cut volumes (geometry.cut_note)
CUT_ONE = "cut to its central"  #: an input cut, said alone (geometry.cut_alone; cut_note names its first so)
NO_AIR = "windowed as CT in Hounsfield units"  #: nifti.no_air_note, several volumes or one


def _ct(shape, seed) -> np.ndarray:
    v = np.full(shape, -1000.0, np.float32)  # air around the body
    v[tuple(slice(1, n - 1) for n in shape)] = np.random.default_rng(seed).normal(40, 10, [n - 2 for n in shape])
    return v


def _save(path, vol):
    nib.save(nib.Nifti1Image(np.asarray(vol, np.float32), np.eye(4)), str(path))  # 1 mm voxels
    return path


@pytest.fixture(scope="module")
def spacing_run(tmp_path_factory):
    """A 1-epoch 3D run, --volume-size 8 at --spacing 2 (a 16 mm box) and --window 100,1000, on 12 mm CT scans (none
    cut); and four 40 mm scans, MR-like (no air: values 0..520), that the box cuts, labelled in a CSV."""
    root = tmp_path_factory.mktemp("notes")
    rows = ["path,label,split"]
    for i, part in enumerate(["train"] * 8 + ["val"] * 2 + ["test"] * 4):
        vol = _ct((12, 12, 12), i)
        if i % 2:
            vol[4:8, 4:8, 4:8] += 300
        _save(root / f"v{i:02d}.nii.gz", vol)
        rows.append(f"v{i:02d}.nii.gz,{i % 2},{part}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    run = root / "run"
    medtrain.train(dict(data=str(root / "labels.csv"), model="resnet10_28_half", epochs=1, batch_size=4,
                        progress=False, bootstrap=0, volume_size=8, spacing="2", window="100,1000", out=str(run),
                        accelerator="cpu", flip="true", precision="32-true"), verbose=False)
    big = [_save(root / f"big{i}.nii.gz", (_ct((40, 40, 40), 20 + i) + 1000) * 0.5) for i in range(4)]
    (root / "big.csv").write_text("path,label\n" + "".join(f"{p.name},{i % 2}\n" for i, p in enumerate(big)))
    return run, big, root / "big.csv"


def _lines(err: str, *words: str) -> list[str]:
    return [line for line in err.splitlines() if any(w in line for w in words)]


@pytest.mark.slow  # trains a 3D network: about 10 s
def test_predicting_scans_that_are_all_cut_says_it_once_with_their_count(spacing_run, tmp_path, capsys):
    run, big, _ = spacing_run
    code, _, err = run_cli(capsys, "predict", run, *big[:3], "--out", tmp_path / "p.csv")
    assert code == 0, err
    cut = _lines(err, CUT_ONE, CUT)
    assert len(cut) == 1, err  # one line, naming the count and the first input
    assert "3 of 3 volume(s) were cut to their central 16 x 16 x 16 mm by the run's --volume-size 8 at --spacing 2 " \
           "mm" in cut[0] and f"(first: {big[0]}: 40 x 40 x 40 mm cut to its central 16 x 16 x 16 mm" in cut[0]
    air = _lines(err, NO_AIR)
    assert len(air) == 1 and "3 of 3 NIfTI volume(s) were windowed" in air[0] and f"first: {big[0]}: values" \
        in air[0], err
    # one input alone: said of it alone, as before
    code, _, err = run_cli(capsys, "predict", run, big[3], "--out", tmp_path / "one.csv")
    assert code == 0, err
    assert len(_lines(err, CUT_ONE)) == 1 and not _lines(err, CUT) and "by the run's --volume-size 8" in err
    assert len(_lines(err, NO_AIR)) == 1 and f"{big[3]}: values" in _lines(err, NO_AIR)[0]


@pytest.mark.slow
def test_explain_says_the_cut_scans_once_with_their_count(spacing_run, tmp_path, capsys):
    run, big, _ = spacing_run
    code, _, err = run_cli(capsys, "explain", run, *big, "--out", tmp_path / "expl")
    assert code == 0, err
    cut = _lines(err, CUT_ONE, CUT)
    assert len(cut) == 1 and "4 of 4 volume(s) were cut" in cut[0], err
    assert len(_lines(err, NO_AIR)) == 1 and "4 of 4 NIfTI volume(s)" in err


@pytest.mark.slow
def test_eval_data_says_the_cut_scans_once_with_their_count_naming_the_data(spacing_run, capsys):
    run, _, csv = spacing_run
    code, _, err = run_cli(capsys, "eval", run, "--data", csv)
    assert code == 0, err
    cut = _lines(err, CUT_ONE, CUT)
    assert len(cut) == 1 and cut[0].count(f"{csv}: 4 of 4 volume(s) were cut") == 1, err  # named by its data
    assert len(_lines(err, NO_AIR)) == 1 and "4 of 4 NIfTI volume(s)" in err


@pytest.mark.slow  # trains a 3D network: about 10 s
@pytest.mark.parametrize("call", ["predict", "explain"])
def test_the_python_api_says_cut_scans_once_too(spacing_run, call):
    # medtrain.load(run).predict(paths) and medtrain.explain.explain(run, paths) had warned once per scan
    import warnings

    from medtrain.data.geometry import CutVolumeWarning
    from medtrain.data.nifti import NoAirWarning
    from medtrain.explain import explain

    run, big, _ = spacing_run
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        if call == "predict":
            medtrain.load(run).predict([str(p) for p in big[:3]])
        else:
            explain(run, [str(p) for p in big[:3]])
    cut = [str(x.message) for x in w if issubclass(x.category, CutVolumeWarning)]
    air = [x for x in w if issubclass(x.category, NoAirWarning)]
    assert len(cut) == 1 and "3 of 3" in cut[0] and len(air) == 1
