"""``--out ""`` (an unset shell variable, ``--out "$RUN"``) is refused by every command that writes to ``--out``, in one
line, before anything is read or written: compare, tune, advise and explain had written to their default folders, and
predict and export to their default files, as if no ``--out`` had been given."""
from __future__ import annotations

import pytest

from conftest import run_cli


@pytest.mark.parametrize("command, kind", [
    (["compare", "--dataset", "breastmnist", "--vary", "lr=0.1,0.01"], "folder"),
    (["tune", "--dataset", "breastmnist", "--trials", "1"], "folder"),
    (["advise", "--source", "RUN", "--target", "breastmnist"], "folder"),
    (["explain", "RUN", "IMG.png"], "folder"),
    (["predict", "RUN", "IMG.png"], "file"),
    (["export", "RUN"], "file"),
    (["augment", "search", "--dataset", "breastmnist", "--budget-epochs", "1"], "file"),
    (["train", "--dataset", "breastmnist", "--epochs", "1"], "folder"),
])
def test_an_empty_out_is_refused_in_one_line_before_any_work(tmp_path, monkeypatch, capsys, command, kind):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *command, "--out", "")
    assert code == 2, err
    assert err.strip().splitlines() == [f"medtrain: error: --out is empty (''); name the {kind}, or leave --out out "
                                        "for the default"], err
    assert list(tmp_path.iterdir()) == []  # nothing written: no default folder or file made


def test_a_resumed_multi_process_run_is_watched_for_ctrl_c_during_its_start_up(tmp_path):
    """``train --resume RUN`` of a run saved with devices 2 starts two processes: the start-up's Ctrl-C watch is
    entered for it (review C: only the --devices flag and --config had been read), not for one of devices 1."""
    from medtrain.cli import _may_start_processes, _parse, build_parser

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("devices: 2\n")
    assert _may_start_processes(_parse(build_parser(), ["train", "--resume", str(run)]))
    assert not _may_start_processes(_parse(build_parser(), ["train", "--resume", str(run), "--devices", "1"]))
    (run / "config.yaml").write_text("devices: 1\n")
    assert not _may_start_processes(_parse(build_parser(), ["train", "--resume", str(run)]))
