"""The overall bar of multi-run commands and the download bar: what a user watching the terminal sees."""
import io
import sys

import numpy as np

from medtrain._progress import Overall
from medtrain.data import medmnist


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_overall_bar_counts_runs_done_of_total_with_an_eta_and_reused_runs_done_from_the_start(monkeypatch):
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    with Overall(5, "compare", done=2) as bar:
        assert "2/5" in screen.getvalue()  # reused runs count as done before any training
        bar.advance()
        bar.advance()
        bar.advance()
    shown = screen.getvalue()
    assert "5/5" in shown and "compare" in shown and "<" in shown  # elapsed<remaining


def test_overall_bar_stays_off_the_screen_when_disabled_or_not_a_terminal(monkeypatch):
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    with Overall(3, "compare", enabled=False) as bar:
        bar.advance()
    assert screen.getvalue() == ""
    log = io.StringIO()  # a log file or captured output: no carriage-return lines
    monkeypatch.setattr(sys, "stderr", log)
    with Overall(3, "compare") as bar:
        bar.advance()
    assert log.getvalue() == ""


def test_download_shows_bytes_received_of_the_file_size(tmp_path, monkeypatch):
    src = tmp_path / "src.bin"
    src.write_bytes(np.random.default_rng(0).bytes(3 << 20))
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    dest = tmp_path / "cache" / "dermamnist.npz"
    dest.parent.mkdir()
    medmnist._fetch(src.as_uri(), dest)
    assert dest.read_bytes() == src.read_bytes()
    assert "dermamnist.npz" in screen.getvalue() and "3.00M/3.00M" in screen.getvalue()
