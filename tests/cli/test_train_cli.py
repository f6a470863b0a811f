"""The command line end to end on tiny synthetic data: outputs, stable keys, eval, config files, errors."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from medtrain.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import make_npz  # noqa: E402


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


FAST = ["--model", "resnet10_28_half", "--epochs", "2", "--batch-size", "32", "--no-progress", "--bootstrap", "50",
        "--accelerator", "cpu", "--flip", "true"]  # flip pinned: no pilot runs (tests/training/test_choices.py)


def test_train_writes_a_complete_run_directory_and_eval_reproduces_it(tmp_path, capsys):
    # two test labels flipped: the test AUC then depends on the exact scores, not only on their separability
    data = make_npz(tmp_path / "noisy.npz", noisy_test=2)
    out = tmp_path / "run"
    code, stdout, _ = _run(capsys, "train", "--data", str(data), *FAST, "--out", str(out))
    assert code == 0
    for name in ("config.yaml", "metrics.json", "model.safetensors", "learning_curve.png", "confusion_matrix.png",
                 "predictions_test.csv"):
        assert (out / name).is_file(), name
    assert not (out / "checkpoints").exists()  # --resume's, of no use once finished (tests/test_finished_run_checkpoints.py)
    m = json.loads((out / "metrics.json").read_text())
    assert isinstance(m["history"], list) and len(m["history"]) == 2
    assert {"best_epoch", "stop_epoch", "wall_s", "test"} <= set(m)
    assert {"acc", "auc", "acc_ci", "auc_ci"} <= set(m["test"])
    assert m["test"]["acc_ci"][0] <= m["test"]["acc"] <= m["test"]["acc_ci"][1]
    assert {"train_loss", "val_loss", "val_auc", "val_acc"} <= set(m["history"][0])
    assert "test AUC" in stdout  # the summary table
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["model"] == "resnet10_28_half" and cfg["epochs"] == 2
    code, stdout, _ = _run(capsys, "eval", str(out))
    assert code == 0
    again = json.loads((out / "eval_test.json").read_text())
    assert again["acc"] == pytest.approx(m["test"]["acc"], abs=1e-9) and again["auc"] == pytest.approx(m["test"]["auc"], abs=1e-9)
    assert m["test"]["auc"] < 1  # the flipped labels are ranked among the other class


def test_a_medmnist_run_trained_with_medtrain_data_is_evaluated_without_it(tmp_path, capsys, monkeypatch):
    """Found in a user walkthrough: a run of --dataset NAME read from $MEDTRAIN_DATA failed in a new shell
    ('breastmnist.npz is not in ~/.cache/medtrain'). The run records the folder it read the file from; and a
    file moved since is still found where $MEDTRAIN_DATA now points."""
    first, second = tmp_path / "data", tmp_path / "moved"
    first.mkdir()
    make_npz(first / "breastmnist.npz", noisy_test=2)
    monkeypatch.setenv("MEDTRAIN_DATA", str(first))
    out = tmp_path / "run"
    assert _run(capsys, "train", "--dataset", "breastmnist", *FAST, "--out", str(out))[0] == 0
    assert yaml.safe_load((out / "config.yaml").read_text())["data_dir"] == str(first.resolve())
    auc = json.loads((out / "metrics.json").read_text())["test"]["auc"]
    monkeypatch.delenv("MEDTRAIN_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    code, _, err = _run(capsys, "eval", str(out))
    assert code == 0, err
    assert json.loads((out / "eval_test.json").read_text())["auc"] == pytest.approx(auc, abs=1e-9)
    first.rename(second)
    monkeypatch.setenv("MEDTRAIN_DATA", str(second))
    assert _run(capsys, "eval", str(out))[0] == 0


def test_yaml_config_with_flags_overriding_it(tiny_npz, tmp_path, capsys):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"data": str(tiny_npz), "model": "resnet10_28_half", "epochs": 3,
                                   "dropout": 0.3, "batch_size": 32, "bootstrap": 0,
                                   "flip": True}))  # flip pinned: no pilot runs (tests/training/test_choices.py)
    out = tmp_path / "r"
    code, _, _ = _run(capsys, "train", "--config", str(cfg), "--epochs", "1", "--no-progress", "--out", str(out))
    assert code == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["epochs"] == 1 and saved["dropout"] == 0.3


@pytest.mark.parametrize("args, message", [
    (["--dataset", "pneumonimnist"], "did you mean pneumoniamnist"),
    (["--model", "resnet81_28"], "did you mean resnet18_28"),
    (["--dropout", "1.5"], "dropout must be in [0, 1)"),
    (["--drop-block", "1.5"], "drop_block must be in [0, 1)"),
    (["--weight-decay", "-1"], "weight_decay must be >= 0"),
    (["--early-stop", "val_acu"], "did you mean val_auc"),
    # found only while building the model, after the config is written: the directory is removed again
    (["--pretrained", "no/such/run"], "neither a run directory"),
    (["--pretrained", "medicalnet:11"], "medicalnet:DEPTH takes a depth"),
    (["--model", "mobilenetv3_small_100", "--drop-block", "0.1"],
     "model mobilenetv3_small_100 does not support drop_block"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tiny_npz, tmp_path, capsys, args, message, monkeypatch):
    monkeypatch.setenv("MEDTRAIN_DATA", str(tmp_path / "cache"))
    out = tmp_path / "never"
    base = ["--data", str(tiny_npz)] if "--dataset" not in args else []
    code, _, err = _run(capsys, "train", *base, *FAST, *args, "--out", str(out))
    assert code == 2
    assert err.strip().count("\n") == 0 and message in err and "Traceback" not in err
    assert not out.exists()


def test_a_damaged_safetensors_source_is_one_line_exit_2_and_writes_nothing(tiny_npz, tmp_path, capsys):
    """It was a traceback (exit 1) that left config.yaml behind, blocking the retry (a user walkthrough)."""
    junk = tmp_path / "junk.safetensors"
    junk.write_text("not a file")
    out = tmp_path / "never"
    code, _, err = _run(capsys, "train", "--data", str(tiny_npz), *FAST, "--pretrained", str(junk), "--out", str(out))
    assert code == 2 and "is not a readable safetensors file" in err and err.strip().count("\n") == 0
    assert not out.exists()


def test_bad_data_files_are_reported_by_name(tmp_path, capsys):
    x = np.zeros((4, 8, 8), np.uint8)
    np.savez(tmp_path / "bad.npz", train_images=x, train_labels=np.zeros((3, 1)), val_images=x,
             val_labels=np.zeros((4, 1)), test_images=x, test_labels=np.zeros((4, 1)))
    code, _, err = _run(capsys, "train", "--data", str(tmp_path / "bad.npz"), *FAST, "--out", str(tmp_path / "o"))
    assert code == 2 and "train has 4 images but 3 labels" in err
    assert not (tmp_path / "o").exists()


def test_missing_resume_directory(tmp_path, capsys):
    code, _, err = _run(capsys, "train", "--resume", str(tmp_path / "nope"))
    assert code == 2 and "not a run directory" in err


def test_existing_run_is_not_overwritten(tiny_npz, tmp_path, capsys):
    out = tmp_path / "r"
    assert _run(capsys, "train", "--data", str(tiny_npz), *FAST, "--epochs", "1", "--out", str(out))[0] == 0
    code, _, err = _run(capsys, "train", "--data", str(tiny_npz), *FAST, "--out", str(out))
    # a finished run cannot be resumed into other settings: the way on is another folder (a0af261)
    assert code == 2 and "another --out" in err and "--resume" not in err


def test_compare_grid_tables_and_skips_finished_cells(tiny_npz, tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", "--data", str(tiny_npz), *FAST, "--epochs", "1", "--vary", "dropout=0,0.5", "--seeds", "2",
            "--out", str(out)]
    assert _run(capsys, *argv)[0] == 0
    md = (out / "summary.md").read_text()
    assert "| dropout | seeds | test ACC" in md and md.count("± ") >= 6
    assert (out / "summary.csv").read_text().splitlines()[0].startswith("dropout,seeds,runs,test_acc")
    assert (out / "dropout=0.5" / "seed1" / "metrics.json").is_file()
    stamp = (out / "dropout=0" / "seed0" / "metrics.json").stat().st_mtime
    code, stdout, _ = _run(capsys, *argv)
    assert code == 0 and stdout.count("skipped") == 4
    assert (out / "dropout=0" / "seed0" / "metrics.json").stat().st_mtime == stamp


@pytest.mark.parametrize("vary, message", [
    (["seed=0,1"], "--vary seed: --seeds sets it, not --vary"),  # each cell ran seed 0, silently
    (["out=a,b"], "--vary out: --out sets it"),
    (["dropout=0", "dropout=0.5"], "--vary dropout is given twice"),  # the second axis replaced the first
    (["model=resnet10_28_half,nosuchnet"], "unknown model 'nosuchnet'"),  # the first cell trained before this
    (["augment=flip;flip,bogus"], "unknown augmentation 'bogus'"),
])
def test_compare_refuses_a_grid_it_cannot_run_before_training_any_cell(tiny_npz, tmp_path, capsys, vary, message):
    out = tmp_path / "cmp"
    fast = list(FAST)
    if any(v.startswith("model=") for v in vary):  # a key both varied and given is refused on its own
        del fast[fast.index("--model"):fast.index("--model") + 2]
    code, _, err = _run(capsys, "compare", "--data", str(tiny_npz), *fast, *[a for v in vary for a in ("--vary", v)],
                        "--out", str(out))
    assert code == 2 and message in err and err.strip().count("\n") == 0
    assert not out.exists()


def test_compare_refuses_to_reuse_cells_run_with_other_settings(tiny_npz, tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", "--data", str(tiny_npz), *FAST, "--epochs", "1", "--vary", "dropout=0", "--out", str(out)]
    assert _run(capsys, *argv)[0] == 0
    code, _, err = _run(capsys, *argv[:-2], "--weight-decay", "0.001", "--out", str(out))
    assert code == 2 and "weight_decay: 0.025, now 0.001" in err and "another --out" in err  # (grid.json)


def test_pretrained_alone_fine_tunes_and_explicit_scratch_stays_scratch():
    from medtrain.config import resolve

    assert resolve({"data": "x.npz", "pretrained": "runs/A"}).transfer == "finetune"
    assert resolve({"data": "x.npz", "pretrained": "runs/A", "transfer": "scratch"}).transfer == "scratch"
    assert resolve({"data": "x.npz"}).transfer == "scratch"


def test_help_states_each_default_once(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "--lr V learning rate (default auto: 1e-2" in text and "(default None)" not in text
    assert "--momentum V sgd's (Nesterov) momentum; adam and adamw do not read it (default 0.9)" in text and "--size V MedMNIST image size: 28, 64, 128 or 224 (default 28)" in text
    assert ("--data-dir V download cache (default $MEDTRAIN_DATA, else $XDG_CACHE_HOME/medtrain, else "
            "~/.cache/medtrain) --") in text


def test_help_is_instant_it_loads_neither_torch_nor_the_zoo():
    """`medtrain --help` and `medtrain train --help` build every sub-command's parser without importing
    torch, timm or MONAI (seconds on a 2-core CPU): the work starts when a command runs."""
    import subprocess
    import sys

    code = ("import sys\nfrom medtrain.cli import build_parser\nbuild_parser()\n"
            "heavy = [m for m in ('torch', 'timm', 'monai', 'lightning') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    helped = subprocess.run([sys.executable, "-m", "medtrain", "train", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert helped.returncode == 0 and "--members" in helped.stdout and "hflip-shift" in helped.stdout


@pytest.mark.parametrize("inside", [".", "benign/run", "runs/a"])
def test_an_out_inside_the_image_folder_is_refused(tmp_path, capsys, inside):
    # the run's plots had become images of a class (or its folders classes) for the next run on that folder
    from PIL import Image

    data = tmp_path / "data"
    for c in ("benign", "malignant"):
        (data / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((12, 12), 40 * i, np.uint8)).save(data / c / f"{i}.png")
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    code, _, err = _run(capsys, "train", "--data", str(data), "--epochs", "1", "--out", str(data / inside))
    assert code == 2 and "inside the data folder" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before  # nothing written there


def _csv_of_class_folders(root: Path) -> Path:
    """``root/labels.csv`` listing two images, ``png/benign/0.png`` and ``png/malignant/1.png`` (relative paths)."""
    from conftest import png_csv

    root.mkdir(parents=True, exist_ok=True)
    return png_csv(root, [np.full((12, 12), 40, np.uint8), np.full((12, 12), 90, np.uint8)], [0, 1],
                   classes=["benign", "malignant"], path="png/{label}/{i}.png")


@pytest.mark.parametrize("inside", ["png/run2", "png", "png/benign/run", "png/benign"])
def test_an_out_inside_the_folder_of_a_csvs_images_is_refused(tmp_path, capsys, inside):
    # `--data data/labels.csv --out data/png/run2` (images in data/png/<class>/) had been accepted: the next
    # `--data data/png` trained the run's plots as a third class 'run2' (an audit walk)
    csv = _csv_of_class_folders(tmp_path / "data")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, _, err = _run(capsys, "train", "--data", str(csv), "--epochs", "1", "--out", str(csv.parent / inside))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"is inside {(csv.parent / 'png').resolve()}, a folder of the images" in err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written


def test_an_out_beside_the_folder_of_a_csvs_images_is_not_refused(tmp_path):
    # the boundary is the images' folder, not the CSV's: data/runs beside data/png is where runs of
    # data/labels.csv commonly go; images in unrelated folders make their common parent no data folder
    from conftest import png_csv
    from medtrain._out_checks import check_out_of_data
    from medtrain.config import Config
    from medtrain.errors import MedtrainError

    csv = _csv_of_class_folders(tmp_path / "data")
    for out in (csv.parent / "runs" / "a", csv.parent, tmp_path / "pngs"):
        check_out_of_data(Config(data=str(csv)), out)
    spread = tmp_path / "spread.csv"
    spread.write_text(f"path,label\n{csv.parent / 'png/benign/0.png'},benign\n"
                      f"{tmp_path / 'elsewhere' / 'x' / '1.png'},malignant\n")
    check_out_of_data(Config(data=str(spread)), tmp_path / "data" / "runs")  # /tmp/...: no data folder
    with pytest.raises(MedtrainError, match="elsewhere/x, a folder of the images"):
        check_out_of_data(Config(data=str(spread)), tmp_path / "elsewhere" / "x" / "run")
    # images loose beside their CSV, runs in a subfolder: no class folder there (a CSV's usual layout)
    flat = png_csv(tmp_path / "flat", [np.zeros((8, 8), np.uint8)] * 2, [0, 1], path="{i}.png")
    check_out_of_data(Config(data=str(flat)), flat.parent / "run")
    with pytest.raises(MedtrainError, match="flat, a folder of the images"):  # the run's files among the images
        check_out_of_data(Config(data=str(flat)), flat.parent)


def test_eval_of_a_run_folder_it_cannot_write_still_prints_the_result(trained_run, capsys, monkeypatch):
    # an archived or a colleague's run: the whole evaluation ran, then the error, and the numbers were lost
    from medtrain.errors import MedtrainError
    from medtrain import runscores as written

    run, _, _ = trained_run

    def read_only(path, obj):
        raise MedtrainError(f"cannot write in {Path(path).parent} (Permission denied)")

    monkeypatch.setattr(written, "write_json", read_only)
    code, out, err = _run(capsys, "eval", str(run))
    assert code == 2 and "Permission denied" in err
    assert f"{run} on test: AUC" in out
