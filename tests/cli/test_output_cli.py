"""What `medtrain train` and `medtrain compare` print: a closing line naming the files written and what to do next,
a flip decision whose rule can be read off its numbers, and no Lightning noise (found in a user walkthrough)."""
from __future__ import annotations

import contextlib
import io
import logging
import sys
import warnings
from pathlib import Path

import pytest

from medtrain.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import make_npz  # noqa: E402

# --flip auto (the default) on purpose: two pilot fits and the run, each a Trainer of its own
FAST = ["--model", "resnet10_28_half", "--epochs", "1", "--batch-size", "32", "--no-progress", "--bootstrap", "0",
        "--accelerator", "cpu"]


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One default-style run: its exit code, stdout, the warnings and Lightning's log messages it emitted."""
    from lightning.pytorch.utilities.rank_zero import rank_zero_module

    tmp = tmp_path_factory.mktemp("output")
    out = tmp / "run"
    records = _Records()
    rank_zero_module.log.addHandler(records)
    stdout = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(stdout):
            warnings.simplefilter("always")
            code = main(["train", "--data", str(make_npz(tmp / "tiny.npz")), *FAST, "--out", str(out)])
        rank_zero_module.log.info("GPU available: sentinel")  # outside medtrain's fits: seen (the handler works)
    finally:
        rank_zero_module.log.removeHandler(records)
    return {"code": code, "out": out, "stdout": stdout.getvalue(), "warnings": [str(w.message) for w in caught],
            "log": records.messages}


def test_train_ends_by_naming_its_report_metrics_and_next_commands(trained):
    assert trained["code"] == 0
    last = trained["stdout"].strip().splitlines()[-1]
    out = trained["out"]
    assert f"report: {out / 'report.html'}" in last and f"metrics: {out / 'metrics.json'}" in last
    assert (out / "report.html").is_file() and (out / "metrics.json").is_file()
    assert f"next: medtrain eval|predict|export|explain {out}" in last


def test_a_default_run_prints_no_lightning_advert_or_deprecation(trained):
    assert trained["code"] == 0
    assert trained["log"][-1] == "GPU available: sentinel"  # Lightning's logger reaches the handler
    assert not [m for m in trained["log"] if "Tip:" in m or "litlogger" in m]
    assert not [w for w in trained["warnings"] if "LeafSpec" in w]


def test_the_device_and_precision_are_said_once_in_the_summary_not_five_lines_per_fit(trained):
    """Lightning logs "GPU available / TPU available / Using bfloat16 AMP / Loading train_dataloader / fit
    stopped" for every Trainer: 15 lines of a default run's stderr (two flip pilots and the run), a third of a
    batch log. The run says what trained it once, in its summary, and records it in metrics.json."""
    import json

    boiler = ("GPU available", "TPU available", "Automatic Mixed Precision", "Loading `train_dataloader`",
              "`Trainer.fit` stopped")
    assert not [m for m in trained["log"][:-1] if m.startswith(boiler)]
    metrics = json.loads((trained["out"] / "metrics.json").read_text())
    assert metrics["device"] == "cpu"
    assert f"train images/s on cpu, {metrics['precision']}; wall" in trained["stdout"]


def test_the_flip_decision_line_shows_which_side_of_the_margin_it_fell():
    """0.9103 with and 0.9203 without flips had read as a 0.0100 lead, enough to drop them; the lead was
    0.009997, under the rule's `> 0.01`."""
    from medtrain.reports.summary import choices_line

    line = choices_line({"flip": {"chosen": True, "how": "pilot runs of 3 epoch(s) on validation",
                                  "val_auc": {"with": 0.910303, "without": 0.9203}, "margin": 0.01}})
    assert "without - with = 0.009997, not > the 0.01 margin" in line
    line = choices_line({"flip": {"chosen": False, "how": "pilot runs", "val_auc": {"with": 0.9, "without": 0.93},
                                  "margin": 0.01}})
    assert "without - with = 0.0300 > the 0.01 margin" in line


def test_compare_ends_by_naming_the_files_it_wrote(tmp_path, capsys):
    out = tmp_path / "grid"
    argv = ["compare", "--data", str(make_npz(tmp_path / "tiny.npz")), *FAST, "--flip", "true", "--out", str(out)]
    assert main(argv) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    names = ["summary.md", "summary.csv", "report.html", "seeds.png"]
    assert all(name in last for name in names) and str(out) in last
    assert all((out / name).is_file() for name in names)


def test_medtrains_own_warnings_are_one_line_and_others_keep_their_form(capsys):
    """A patient split far from its fractions was shown in Python's form: file, line, category and a line of
    source code. The CLI shows medtrain's own warnings as one `medtrain: warning:` line."""
    from medtrain.cli import _own_warnings_in_one_line
    from medtrain.data._table_checks import SplitShareWarning

    passed_on = []
    show = _own_warnings_in_one_line(lambda *a: passed_on.append(a[:4]))
    show(SplitShareWarning("patient-level split: test 0.05"), SplitShareWarning, "/x/split.py", 290)
    show(SplitShareWarning("patient-level split: test 0.05"), SplitShareWarning, "/x/split.py", 290)  # read again
    assert capsys.readouterr().err == "medtrain: warning: patient-level split: test 0.05\n" and not passed_on
    library = UserWarning("a library's")
    show(library, UserWarning, "/x/lib.py", 7)
    assert passed_on == [(library, UserWarning, "/x/lib.py", 7)] and not capsys.readouterr().err


@pytest.mark.usefixtures("one_thread")
def test_images_larger_than_a_network_needs_get_a_note_naming_image_size(tmp_path, capsys, monkeypatch):
    """16 radiographs of 3000 x 3000 trained at that size took 12 GB within 30 s on a CPU without a word; a run
    whose images are wider than LARGE_SIDE says so and names --image-size (here the limit is lowered to 15)."""
    import numpy as np
    from PIL import Image

    import medtrain.api

    monkeypatch.setattr(medtrain.api, "LARGE_SIDE", 15)
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(tmp_path / "imgs" / c / f"{i}.png")
    common = ["train", "--data", str(tmp_path / "imgs"), "--model", "resnet10_28_half", "--epochs", "1",
              "--flip", "false", "--no-progress", "--bootstrap", "0", "--precision", "32-true"]
    assert main(common + ["--out", str(tmp_path / "big")]) == 0
    assert "the images are 16 pixels wide and train at that size" in capsys.readouterr().out
    assert main(common + ["--out", str(tmp_path / "resized"), "--image-size", "16"]) == 0
    assert "--image-size 224" not in capsys.readouterr().out
