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


#: the installed ``medtrain`` command as pip writes it (``from medtrain.cli import main; sys.exit(main())``), running
#: the command lines of its arguments (``--`` between them) one after another in the one process, each through
#: ``main()`` with ``sys.argv`` as the command line; after each, ``@@ EXIT`` on a line of its own
COMMANDS = r"""import sys
from medtrain.cli import main

lines, line = [], []
for a in sys.argv[1:] + ["--"]:
    if a == "--":
        lines.append(line)
        line = []
    else:
        line.append(a)
for line in lines:
    sys.argv = ["medtrain", *line]
    code = main()
    sys.stdout.flush()
    sys.stdout.buffer.write(b"\n@@ %d\n" % code)
    sys.stdout.flush()
"""


def _medtrain_commands(cwd, *lines) -> list[tuple[int, bytes]]:
    """The command lines ``lines`` run one after another by one ``medtrain`` process (a script of that name, as pip
    installs it; under an ASCII locale it re-executes itself in UTF-8 mode before the first one runs): each one's
    (exit status, standard output). Its standard error, and that it exited 0, are checked here."""
    script = cwd / "bin" / "medtrain"
    script.parent.mkdir()
    script.write_text(COMMANDS)
    argv = [a for line in lines for a in ("--", *line)][1:]
    done = subprocess.run([sys.executable, str(script), *argv], cwd=cwd, env=_ascii_env(), capture_output=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    parts = done.stdout.split(b"\n@@ ")
    assert len(parts) == len(lines) + 1, done.stdout[-2000:]
    said = [parts[0]] + [p.split(b"\n", 1)[1] for p in parts[1:-1]]
    codes = [int(p.split(b"\n", 1)[0]) for p in parts[1:]]
    assert all(c == 0 for c in codes), (codes, done.stderr.decode(errors="replace")[-2000:])
    return list(zip(codes, said))


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

    # train, predict (its CSV, and on standard output the line naming it) and eval, which reads the data folder back
    # from config.yaml, as three command lines of one `medtrain` process (one start-up: each command had been a
    # process of its own, ~6 CPU s of imports each); each command's standard output is UTF-8 text naming the
    # non-ASCII files
    (_, _), (_, predicted), (_, evaluated) = _medtrain_commands(
        tmp_path,
        ["train", "--data", "données/x", "--epochs", "1", "--flip", "false", "--model", "resnet10_28_half",
         "--bootstrap", "0", "--out", "runs/ré", "--no-progress"],
        ["predict", "runs/ré", "données/x/normál", "--out", "runs/prédictions.csv"],
        ["eval", "runs/ré"])
    run = tmp_path / "runs" / "ré"
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["data"]["classes"] == CLASSES and sorted(metrics["test"]["per_class"]) == CLASSES
    assert metrics["data"]["source"] == str(tmp_path / "données" / "x")
    assert "normál/" in (run / "splits.csv").read_text(encoding="utf-8")

    with open(tmp_path / "runs" / "prédictions.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0][:4] == ["input", "prediction", *CLASSES]
    assert len(rows) - 1 == len(os.listdir(tmp_path / "données" / "x" / "normál"))
    assert all(r[0].startswith("données/x/normál/") and r[1] in CLASSES for r in rows[1:])
    assert predicted.decode("utf-8").startswith(f"{len(rows) - 1} input(s) predicted -> runs/prédictions.csv")

    assert sorted(json.loads((run / "eval_test.json").read_text(encoding="utf-8"))["per_class"]) == CLASSES
    said = evaluated.decode("utf-8")
    assert said.startswith("runs/ré on test: AUC") and "written to runs/ré/eval_test.json" in said


def test_python_m_medtrain_runs_in_utf8_mode_under_an_ascii_locale(ascii_locale, tmp_path):
    # `python -m medtrain` re-executes itself in UTF-8 mode as the installed command does (the end-to-end test above
    # runs the installed command's way): a non-ASCII argument comes back on standard error as UTF-8, not as the
    # ASCII mode's escapes ('train\udcc3\udca9'); an unknown command, so that no command's imports are paid
    refused = _medtrain(tmp_path, "trainé")
    assert refused.returncode == 2, refused.stderr
    assert "unknown command 'trainé'" in refused.stderr.decode("utf-8"), refused.stderr


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
