"""``medtrain predict RUN -`` and ``medtrain explain RUN -`` read their input paths from standard input, one a line,
as Unix tools read ``-`` (``find scans -name '*.png' | medtrain predict RUN -``): each path is then what it would be
on the command line, and a ``-`` that cannot be read (nothing piped, a terminal, no path) is one line and exit 2."""
from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import read_rows, run_cli
from medtrain.explain import MAPS_FILE

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one thread is faster on a busy CPU


def _pngs(folder, arrays, n=3):
    """``n`` test images as PNGs whose names hold spaces (``scan 0.png`` in ``sub dir/``)."""
    (folder / "sub dir").mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / "sub dir" / f"scan {i}.png"
        Image.fromarray(arrays["test_images"][i]).save(p)
        paths.append(p)
    return paths


def _stdin(monkeypatch, text: str, tty: bool = False):
    class Stdin(io.StringIO):
        def isatty(self):
            return tty

    monkeypatch.setattr("sys.stdin", Stdin(text))


def _probs(rows):
    return {r["input"]: (r["prediction"], float(r["0"]), float(r["1"])) for r in rows}


def test_paths_piped_in_are_predicted_as_if_given_on_the_command_line(trained_run, tmp_path, monkeypatch, capsys):
    """One path a line, blank lines skipped, spaces kept, relative to the current folder, a Windows \\r dropped:
    the same rows, names and probabilities as the same paths given as arguments."""
    run, _, arrays = trained_run
    _pngs(tmp_path, arrays)
    monkeypatch.chdir(tmp_path)
    names = [f"sub dir/scan {i}.png" for i in range(3)]
    code, _, _ = run_cli(capsys, "predict", run, *names, "--out", tmp_path / "args.csv")
    assert code == 0
    _stdin(monkeypatch, f"\n{names[0]}\n\n   \n{names[1]}\r\n{names[2]}")  # no newline after the last one
    code, out, err = run_cli(capsys, "predict", run, "-", "--out", tmp_path / "piped.csv")
    assert code == 0, err
    assert "3 input(s) predicted" in out
    piped, args = read_rows(tmp_path / "piped.csv"), read_rows(tmp_path / "args.csv")
    assert [r["input"] for r in piped] == names
    assert _probs(piped) == _probs(args)


def test_dash_among_other_inputs_stands_where_it_is_given(trained_run, tmp_path, monkeypatch, capsys):
    """``predict RUN a.png - data.npz``: the piped paths in place of the ``-``, between the other inputs; a
    folder or .npz piped in is read as one given on the command line (.npz rows named PATH:INDEX among others)."""
    run, data, arrays = trained_run
    a, b, c = _pngs(tmp_path, arrays)
    _stdin(monkeypatch, f"{b}\n{data}\n")
    code, _, err = run_cli(capsys, "predict", run, a, "-", c, "--out", tmp_path / "p.csv")
    assert code == 0, err
    names = [r["input"] for r in read_rows(tmp_path / "p.csv")]
    assert names == [str(a), str(b), *(f"{data}:{i}" for i in range(40)), str(c)]


def test_predictions_of_piped_paths_go_to_standard_output(trained_run, tmp_path, monkeypatch, capsys):
    """``... | medtrain predict RUN - --out -``: had been refused as "the output - is the input -"."""
    run, _, arrays = trained_run
    paths = _pngs(tmp_path, arrays, n=2)
    _stdin(monkeypatch, "".join(f"{p}\n" for p in paths))
    code, out, err = run_cli(capsys, "predict", run, "-", "--out", "-")
    assert code == 0, err
    assert "is the input" not in err
    assert [line.split(",")[0] for line in out.splitlines()] == ["input", *map(str, paths)]


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_no_path_on_standard_input_is_one_line_not_an_empty_result(trained_run, tmp_path, monkeypatch, capsys,
                                                                 text):
    """An empty ``find`` piped in: one line and exit 2, no output file (explain: not the run's own split)."""
    run, _, _ = trained_run
    for command in ("predict", "explain"):
        _stdin(monkeypatch, text)
        code, out, err = run_cli(capsys, command, run, "-", "--out", tmp_path / command)
        assert code == 2
        assert err.startswith("medtrain: error: no input paths on standard input")
        assert len(err.strip().splitlines()) == 1 and out == ""
        assert not (tmp_path / command).exists()


def test_a_missing_piped_path_is_the_error_of_a_missing_argument(trained_run, tmp_path, monkeypatch, capsys):
    run, _, arrays = trained_run
    (good,) = _pngs(tmp_path, arrays, n=1)
    missing = tmp_path / "sub dir" / "gone 7.png"
    code, _, given = run_cli(capsys, "predict", run, good, missing, "--out", tmp_path / "a.csv")
    _stdin(monkeypatch, f"{good}\n{missing}\n")
    code_piped, _, piped = run_cli(capsys, "predict", run, "-", "--out", tmp_path / "b.csv")
    assert code == code_piped == 2
    assert piped == given == f"medtrain: error: {missing}: no such file or folder\n"
    assert not (tmp_path / "b.csv").exists()


@pytest.mark.parametrize("command", ["predict", "explain"])
def test_a_terminal_on_standard_input_is_refused_rather_than_waited_on(trained_run, tmp_path, monkeypatch, capsys,
                                                                       command):
    """``medtrain predict RUN -`` typed with nothing piped had waited for typed paths (it reads as a hang)."""
    run, _, _ = trained_run
    _stdin(monkeypatch, "never read\n", tty=True)
    code, _, err = run_cli(capsys, command, run, "-", "--out", tmp_path / "out")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "standard input" in err and "terminal" in err and "pipe" in err and f"| medtrain {command} RUN -" in err
    assert sys.stdin.read() == "never read\n"  # nothing was read from it


def test_dash_twice_and_nul_separated_paths_are_refused_in_one_line(trained_run, tmp_path, monkeypatch, capsys):
    run, _, arrays = trained_run
    (a,) = _pngs(tmp_path, arrays, n=1)
    _stdin(monkeypatch, f"{a}\n")
    code, _, err = run_cli(capsys, "predict", run, "-", "-", "--out", tmp_path / "p.csv")
    assert code == 2 and "- is given twice" in err and len(err.strip().splitlines()) == 1
    _stdin(monkeypatch, f"{a}\0{a}\0")  # find -print0
    code, _, err = run_cli(capsys, "predict", run, "-", "--out", tmp_path / "p.csv")
    assert code == 2 and "NUL" in err and len(err.strip().splitlines()) == 1


def test_a_folder_named_dash_is_dot_slash_dash(trained_run, tmp_path, monkeypatch, capsys):
    """``-`` always means standard input; the file or folder ``-`` is ``./-``, as for other Unix tools, and is
    no standard output for ``--out -`` (it had been refused as "the output - is the input ./-")."""
    run, _, arrays = trained_run
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-").mkdir()
    Image.fromarray(arrays["test_images"][0]).save(tmp_path / "-" / "a.png")
    _stdin(monkeypatch, "")
    code, out, err = run_cli(capsys, "predict", run, "./-", "--out", "-")
    assert code == 0, err
    assert [line.split(",")[0] for line in out.splitlines()] == ["input", "-/a.png"]


def test_explain_reads_piped_paths_as_predict_does(trained_run, tmp_path, monkeypatch, capsys):
    run, _, arrays = trained_run
    paths = _pngs(tmp_path, arrays, n=2)
    _stdin(monkeypatch, "".join(f"{p}\n" for p in paths))
    code, out, err = run_cli(capsys, "explain", run, "-", "--out", tmp_path / "ex")
    assert code == 0, err
    assert "2 input(s) explained" in out
    assert list(np.load(tmp_path / "ex" / MAPS_FILE)["inputs"]) == [str(p) for p in paths]


def test_dash_after_an_option_is_still_an_input(trained_run, tmp_path, monkeypatch, capsys):
    """``explain RUN --out DIR -`` had been 'unrecognized arguments: -' while ``explain RUN - --out DIR`` worked."""
    run, _, arrays = trained_run
    paths = _pngs(tmp_path, arrays, n=1)
    _stdin(monkeypatch, f"{paths[0]}\n")
    code, out, err = run_cli(capsys, "explain", run, "--out", tmp_path / "ex", "-")
    assert code == 0, err
    assert "1 input(s) explained" in out


def test_eval_data_dash_says_piped_paths_carry_no_labels(trained_run, capsys):
    run, _, _ = trained_run
    code, out, err = run_cli(capsys, "eval", run, "--data", "-")
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "carry no labels" in err


def test_a_real_pipe_into_the_command(trained_run, tmp_path):
    """``printf 'a.png\\n' | python -m medtrain predict RUN - --out -``, through the process's own standard input."""
    run, _, arrays = trained_run
    paths = _pngs(tmp_path, arrays, n=2)
    res = subprocess.run([sys.executable, "-m", "medtrain", "predict", str(run), "-", "--out", "-"],
                         input="".join(f"{p}\n" for p in paths), capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr
    assert [line.split(",")[0] for line in res.stdout.splitlines()] == ["input", *map(str, paths)]


@pytest.mark.parametrize("command", ["predict", "explain"])
def test_help_says_dash_reads_standard_input(command, capsys):
    with pytest.raises(SystemExit):
        run_cli(capsys, command, "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "- reads their paths from standard input" in text or "- for paths read from standard input" in text
    assert f"| medtrain {command} RUN -" in text


def test_a_missing_path_is_refused_before_any_image_is_read_and_skipped_with_skip_bad(trained_run, tmp_path,
                                                                                        monkeypatch, capsys):
    # a vanished path at the end of a piped list had been found only when the batch reached it (3,000 images
    # predicted, then the error, nothing written), and --skip-bad had not skipped it as it skips a CSV's row
    from medtrain import predict_inputs

    run, _, arrays = trained_run
    good = _pngs(tmp_path, arrays, n=3)
    missing = tmp_path / "gone.png"
    read = []
    real = predict_inputs._read_2d
    monkeypatch.setattr(predict_inputs, "_read_2d", lambda path, r: (read.append(path), real(path, r))[1])
    _stdin(monkeypatch, "".join(f"{p}\n" for p in (*good, missing)))
    code, out, err = run_cli(capsys, "predict", run, "-", "--out", tmp_path / "a.csv")
    assert code == 2 and err == f"medtrain: error: {missing}: no such file or folder\n" and read == []
    _stdin(monkeypatch, "".join(f"{p}\n" for p in (good[0], missing, *good[1:])))
    code, out, err = run_cli(capsys, "predict", run, "-", "--skip-bad", "--out", tmp_path / "b.csv")
    assert code == 0, err
    assert f"skipped {missing}: no such file or folder" in err
    rows = (tmp_path / "b.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == [str(p) for p in good]


def test_a_list_saved_with_a_byte_order_mark_reads_its_first_path(trained_run, tmp_path, monkeypatch, capsys):
    # Windows Notepad's UTF-8 starts with U+FEFF: the first path had been "no such file or folder"
    run, _, arrays = trained_run
    good = _pngs(tmp_path, arrays, n=2)
    _stdin(monkeypatch, "\ufeff" + "".join(f"{p}\r\n" for p in good))
    code, out, err = run_cli(capsys, "predict", run, "-", "--out", tmp_path / "a.csv")
    assert code == 0, err
    assert [r.split(",")[0] for r in (tmp_path / "a.csv").read_text().splitlines()[1:]] == [str(p) for p in good]
