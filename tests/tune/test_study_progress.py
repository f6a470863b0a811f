"""``--no-progress`` keeps a search's study bar off a terminal too, as it keeps train's and compare's bars: a
tune or augment search run in a terminal whose output is logged (tmux, ``script``) had drawn it anyway."""
import argparse
import io
import sys

from medtrain.cli.augment import _config, register
from medtrain.tune import tune
from test_studies import SPACE, fake_runs, fast, quiet  # noqa: F401  (fake_runs: a fixture)


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_tune_draws_its_study_bar_on_a_terminal_unless_told_no_progress(tiny_npz, tmp_path, fake_runs, monkeypatch):
    for progress in (True, False):
        screen = Terminal()
        monkeypatch.setattr(sys, "stderr", screen)
        tune(fast(tiny_npz, progress=progress), SPACE, tmp_path / str(progress), trials=1, log=quiet)
        assert ("tune: 100%" in screen.getvalue() and "1/1" in screen.getvalue()) is progress


def test_augment_search_takes_no_progress_into_its_settings(tiny_npz):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    argv = ["augment", "search", "--data", str(tiny_npz), "--budget-epochs", "1", "--out", "p.yaml"]
    assert _config(parser.parse_args(argv + ["--no-progress"]), extra=("progress",)).progress is False
    assert _config(parser.parse_args(argv), extra=("progress",)).progress is True
