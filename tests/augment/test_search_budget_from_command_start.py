"""``medtrain augment search --method autoaugment --budget M``: the deadline counts from the command's start, as
``medtrain tune``'s does (its data read and the imports take seconds before the search function is called); the
CLI had let :func:`medtrain.policy_search.autoaugment_search` start the clock at its own call."""
from __future__ import annotations

import os
import sys
import time
from types import SimpleNamespace

import pytest

import medtrain.policy_search
from conftest import run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

IMPORTED = time.monotonic()  # this process (pytest's) started before


def test_the_autoaugment_budget_counts_from_the_command_s_start(tiny_npz, tmp_path, capsys, monkeypatch):
    seen = {}

    def search(*args, started=None, **kwargs):  # the search itself is not under test: where its clock starts is
        seen["called"], seen["started"] = time.monotonic(), started
        raise SystemExit(0)

    monkeypatch.setattr(medtrain.policy_search, "autoaugment_search", search)
    before = time.monotonic()
    with pytest.raises(SystemExit):
        run_cli(capsys, "augment", "search", "--data", tiny_npz, "--budget-epochs", "1", "--method", "autoaugment",
                "--budget", "5", "--out", tmp_path / "p.yaml")
    assert seen["started"] is not None and before <= seen["started"] <= seen["called"]


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="the process's start is read from Linux's /proc")
def test_as_the_medtrain_command_the_budget_counts_from_the_process_s_start(tiny_npz, tmp_path, capsys, monkeypatch):
    """Python's start, the imports and the parsing before the command's function count (they had not: 88 s for a
    1-minute budget, 5 to 12 s of it before the clock started)."""
    seen = {}

    def search(*args, started=None, **kwargs):
        seen["started"] = started
        raise SystemExit(0)

    monkeypatch.setattr(medtrain.policy_search, "autoaugment_search", search)
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", SimpleNamespace(name="medtrain.__main__"))
    with pytest.raises(SystemExit):
        run_cli(capsys, "augment", "search", "--data", tiny_npz, "--budget-epochs", "1", "--method", "autoaugment",
                "--budget", "5", "--out", tmp_path / "p.yaml")
    with open("/proc/self/stat") as f:  # this process's start, on the budget's clock
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    began = time.monotonic() - (time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK"))
    assert seen["started"] < IMPORTED and seen["started"] == pytest.approx(began, abs=0.5)


def test_the_budget_s_help_says_it_is_a_deadline_for_the_whole_search(capsys):
    with pytest.raises(SystemExit):
        run_cli(capsys, "augment", "search", "--help")
    flat = " ".join(capsys.readouterr().out.split())
    assert "a deadline for the whole search from the command's start" in flat and "stop starting trials" not in flat
    # what may end after the deadline is said: the epoch a trial is in, its run's end, the writing of the policy
    assert "stops at the end of the epoch it is in (an epoch is not interrupted), then finishes its run" in flat
    assert "writing the policy and the trials' tables comes after" in flat


def test_tune_s_budget_help_says_what_ends_after_the_deadline(capsys):
    with pytest.raises(SystemExit):
        run_cli(capsys, "tune", "--help")
    flat = " ".join(capsys.readouterr().out.split())
    assert "stops at the end of the epoch it is in (an epoch is not interrupted), then finishes its run" in flat
