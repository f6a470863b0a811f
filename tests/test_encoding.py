"""medtrain's files are UTF-8 whatever the locale: under an ASCII one without Python's UTF-8 mode
(``LC_ALL=C PYTHONUTF8=0``, as a minimal container or a cron job runs), class folders and paths named in another
script train, predict and evaluate as under a UTF-8 locale, and their names read back as written."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from conftest import ROOT, make_images

CLASSES = ["anormäl", "normál"]  # sorted: the class order of an image folder


def _ascii_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONIOENCODING", "LC_CTYPE", "PYTHONUTF8")}
    env.update(LC_ALL="C", LANG="C", PYTHONUTF8="0", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    return env


def _medtrain(cwd, *argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medtrain", *argv], cwd=cwd, env=_ascii_env(), capture_output=True,
                          timeout=300)


@pytest.fixture(scope="module")
def ascii_locale():
    probe = subprocess.run([sys.executable, "-c", "import locale, sys; print(locale.getpreferredencoding(False), "
                            "sys.getfilesystemencoding(), sys.flags.utf8_mode)"], env=_ascii_env(),
                           capture_output=True, text=True, check=True)
    preferred, fs, utf8_mode = probe.stdout.split()
    if utf8_mode != "0" or "utf" in (preferred + fs).lower().replace("-", ""):
        pytest.skip(f"this platform gives LC_ALL=C PYTHONUTF8=0 a UTF-8 encoding ({probe.stdout.strip()})")


@pytest.mark.slow
def test_non_ascii_classes_and_paths_train_predict_and_evaluate_under_an_ascii_locale(ascii_locale, tmp_path):
    images, labels = make_images(60, size=16)
    for i, (img, y) in enumerate(zip(images, labels[:, 0])):
        folder = tmp_path / "données" / "x" / CLASSES[y]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i:03d}.png")

    trained = _medtrain(tmp_path, "train", "--data", "données/x", "--epochs", "1", "--flip", "false",
                        "--model", "resnet10_28_half", "--bootstrap", "0", "--out", "runs/ré", "--no-progress")
    assert trained.returncode == 0, trained.stderr.decode(errors="replace")[-2000:]
    run = tmp_path / "runs" / "ré"
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["data"]["classes"] == CLASSES and sorted(metrics["test"]["per_class"]) == CLASSES
    assert metrics["data"]["source"] == str(tmp_path / "données" / "x")
    assert "normál/" in (run / "splits.csv").read_text(encoding="utf-8")

    # predict (its CSV, and on standard output the line naming it) and eval, which reads the data folder back from
    # config.yaml; each command's standard output is UTF-8 text naming the non-ASCII files (one start-up per
    # command: a `predict --out -` of its own had checked standard output again, at the cost of one more)
    predicted = _medtrain(tmp_path, "predict", "runs/ré", "données/x/normál", "--out", "runs/prédictions.csv")
    assert predicted.returncode == 0, predicted.stderr.decode(errors="replace")[-2000:]
    with open(tmp_path / "runs" / "prédictions.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0][:4] == ["input", "prediction", *CLASSES]
    assert len(rows) - 1 == len(os.listdir(tmp_path / "données" / "x" / "normál"))
    assert all(r[0].startswith("données/x/normál/") and r[1] in CLASSES for r in rows[1:])
    assert predicted.stdout.decode("utf-8").startswith(f"{len(rows) - 1} input(s) predicted -> runs/prédictions.csv")

    evaluated = _medtrain(tmp_path, "eval", "runs/ré")
    assert evaluated.returncode == 0, evaluated.stderr.decode(errors="replace")[-2000:]
    assert sorted(json.loads((run / "eval_test.json").read_text(encoding="utf-8"))["per_class"]) == CLASSES
    said = evaluated.stdout.decode("utf-8")
    assert said.startswith("runs/ré on test: AUC") and "written to runs/ré/eval_test.json" in said


def test_a_script_calling_main_is_not_run_twice_under_an_ascii_locale(tmp_path):
    # main() re-executes the medtrain command in UTF-8 mode; a caller's script calling it had run twice
    script = tmp_path / "s.py"
    script.write_text("import sys\nopen(sys.argv[1], 'a').write('x')\nfrom medtrain.cli import main\n"
                      "sys.argv = ['medtrain', '--version']\ntry:\n    main()\nexcept SystemExit:\n    pass\n")
    subprocess.run([sys.executable, str(script), str(tmp_path / "count")], env=_ascii_env(), check=True,
                   capture_output=True)
    assert (tmp_path / "count").read_text() == "x"


def test_saved_predictions_with_non_ascii_names_read_back_under_an_ascii_locale(ascii_locale, tmp_path):
    # the Python API (cross-validation, eval --vs, provenance) reads predictions_test.csv in the host's locale
    # encoding where the CLI would have switched to UTF-8 mode: the file had been "missing or not a predictions file"
    import numpy as np

    from medtrain._predictions_csv import write_predictions

    write_predictions(tmp_path / "predictions_test.csv", np.array([0, 1]), np.array([[0.8, 0.2], [0.3, 0.7]]), None,
                      label_names={"0": CLASSES[0], "1": CLASSES[1]}, task="multi-class",
                      inputs=["images/anormäl/ä.png", "images/normál/á.png"])
    code = ("from medtrain._predictions_csv import read_saved; s = read_saved('.'); "
            "print(s.labels.tolist(), [round(float(p), 2) for p in s.scores[:, 1]])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_ascii_env(), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[0,", "1]", "[0.2,", "0.7]"]
