"""``medtrain augment search --method autoaugment --budget M``: the deadline counts from the command's start, as
``medtrain tune``'s does (its data read and the imports take seconds before the search function is called); the
CLI had let :func:`medtrain.policy_search.autoaugment_search` start the clock at its own call."""
from __future__ import annotations

import time

import pytest

import medtrain.policy_search
from conftest import run_cli

pytestmark = pytest.mark.usefixtures("one_thread")


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


def test_the_budget_s_help_says_it_is_a_deadline_for_the_whole_search(capsys):
    with pytest.raises(SystemExit):
        run_cli(capsys, "augment", "search", "--help")
    flat = " ".join(capsys.readouterr().out.split())
    assert "a deadline for the whole search from the command's start" in flat and "stop starting trials" not in flat
