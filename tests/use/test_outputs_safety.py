"""What medtrain's outputs may touch: standard output is written where it stands (a log it appends to keeps its
lines), and an explanation folder loses only the overlays an earlier explanation wrote there."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from conftest import run_cli
from medtrain.explain import MAPS_FILE
from medtrain.explain.write import INDEX_FILE


# One process for the three commands (each start-up imports torch: seconds): `medtrain predict RUN IMAGE --out -`
# run by main() as the command runs it, its standard output the descriptor each job names, as a shell's
# redirection leaves it (opened for appending, or at the end of what was written before); "1" is the process's
# own standard output as it was started.
_PREDICTS = """\
import os, sys
from medtrain.cli import main
run, image, *jobs = sys.argv[1:]
for job in jobs:  # FD[,OPTION...]
    fd, *more = job.split(",")
    sys.stdout.flush()
    os.dup2(int(fd), 1)
    code = main(["predict", run, image, "--out", "-", *more])
    if code:
        sys.exit(code)
"""


def _csv_lines_ok(lines):
    rows = list(csv.DictReader(lines))
    assert len(rows) == 1 and list(rows[0])[:2] == ["input", "prediction"]


def test_predictions_on_standard_output_join_what_it_already_holds(trained_run, tmp_path):
    """`medtrain predict RUN a.png --out - >> app.log` had truncated app.log, and in `(echo before; medtrain
    predict ...; echo after) > f` the CSV had overwritten "before" and "after" the CSV: the predictions are written
    where standard output stands, in its mode."""
    run, _, arrays = trained_run
    image = tmp_path / "a.png"
    Image.fromarray(arrays["test_images"][0]).save(image)
    log = tmp_path / "app.log"
    log.write_text("IMPORTANT EXISTING LOG LINE 1\nLINE 2\n")
    with open(log, "a") as appended, open(tmp_path / "f", "w") as f:
        f.write("line before\n")
        f.flush()
        # >> app.log: the CSV, then the JSON (held until complete) appended; > f: after "line before"
        res = subprocess.run([sys.executable, "-c", _PREDICTS, str(run), str(image), "1", "1,--json", str(f.fileno())],
                             stdout=appended, stderr=subprocess.PIPE, text=True, timeout=300,
                             pass_fds=(f.fileno(),), env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert res.returncode == 0, res.stderr
        f.write("line after\n")
    text = log.read_text()
    assert text.startswith("IMPORTANT EXISTING LOG LINE 1\nLINE 2\n")
    json_at = text.index('{"labels"')
    _csv_lines_ok(text[:json_at].splitlines()[2:])
    assert len(json.loads(text[json_at:])["predictions"]) == 1

    lines = (tmp_path / "f").read_text().splitlines()
    assert lines[0] == "line before" and lines[-1] == "line after"
    _csv_lines_ok(lines[1:-1])


def test_out_dev_null_is_named_as_itself(trained_run, tmp_path, capsys):
    run, _, arrays = trained_run
    Image.fromarray(arrays["test_images"][0]).save(tmp_path / "a.png")
    code, out, err = run_cli(capsys, "predict", run, tmp_path / "a.png", "--out", "/dev/null")
    assert code == 0 and out == "" and "1 input(s) predicted -> /dev/null" in err and "standard output" not in err


def test_explaining_into_a_folder_removes_only_the_overlays_an_earlier_explanation_wrote(trained_run, tmp_path, capsys):
    """Every NNNN_*.png in --out that the call had not written was deleted: a user's 2024_vacation.png and
    0001_mine.png were lost. A re-run still leaves no overlay of the earlier explanation beside its maps."""
    run, _, _ = trained_run
    out = tmp_path / "pics"
    out.mkdir()
    mine = {"2024_vacation.png": b"photo", "0001_mine.png": b"scan", "notes.txt": b"note"}
    for name, data in mine.items():
        (out / name).write_bytes(data)

    def explain(limit):
        code, _, err = run_cli(capsys, "explain", run, "--split", "test", "--limit", limit, "--out", out)
        assert code == 0, err
        return sorted(p.name for p in out.iterdir())

    assert explain(3) == ["0000_0.png", "0001_1.png", "0001_mine.png", "0002_2.png", "2024_vacation.png",
                          INDEX_FILE, MAPS_FILE, "notes.txt"]
    assert explain(1) == ["0000_0.png", "0001_mine.png", "2024_vacation.png", INDEX_FILE, MAPS_FILE, "notes.txt"]
    assert explain(2) == ["0000_0.png", "0001_1.png", "0001_mine.png", "2024_vacation.png", INDEX_FILE, MAPS_FILE,
                          "notes.txt"]
    # an explanation written before maps.npz listed its overlays: they are named after its inputs
    with np.load(out / MAPS_FILE) as z:
        np.savez_compressed(out / MAPS_FILE, **{k: z[k] for k in z.files if k != "overlays"})
    assert explain(1) == ["0000_0.png", "0001_mine.png", "2024_vacation.png", INDEX_FILE, MAPS_FILE, "notes.txt"]
    assert all((out / name).read_bytes() == data for name, data in mine.items())
