"""medtrain._io: outputs are written atomically and readable as the user's umask allows."""
from __future__ import annotations

import errno
import os
import stat

import pytest

from medtrain._io import atomic_dir, atomic_path, write_json, write_text
from medtrain.errors import MedtrainError

from conftest import file_size_limit


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    old = os.umask(0o022)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(old)


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700),
                                                        (0o002, 0o664, 0o775)])
def test_outputs_get_the_permissions_of_the_umask(tmp_path, umask, mask, file_mode, dir_mode):
    # a report on a shared server: colleagues can read it when the umask says so (mkstemp alone gives 0600)
    umask(mask)
    write_text(tmp_path / "report.html", "<html></html>")
    assert _mode(tmp_path / "report.html") == file_mode
    with atomic_dir(tmp_path / "maps") as tmp:
        (tmp / "a.png").write_bytes(b"x")
    assert _mode(tmp_path / "maps") == dir_mode and _mode(tmp_path / "maps" / "a.png") == file_mode


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "out.csv") as tmp:
            tmp.write_text("half")
            raise RuntimeError("stopped")
    assert list(tmp_path.iterdir()) == []


def test_writing_over_a_folder_or_under_a_file_is_one_error_line(tmp_path):
    (tmp_path / "f").write_text("x")
    (tmp_path / "d").mkdir()
    with pytest.raises(MedtrainError, match="is a folder; give a file name"):
        write_text(tmp_path / "d", "y")
    with pytest.raises(MedtrainError, match="is a file, not a folder"):
        write_text(tmp_path / "f" / "sub" / "out.txt", "y")
    with pytest.raises(MedtrainError, match="exists and is not a folder"):
        with atomic_dir(tmp_path / "f"):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "f"] and (tmp_path / "f").read_text() == "x"


def test_json_files_hold_no_nan_an_undefined_number_is_null(tmp_path):
    """Python writes NaN, which JSON.parse and strict parsers refuse (metrics.json with --bootstrap 0)."""
    import json

    import numpy as np

    write_json(tmp_path / "m.json", {"auc_ci": [float("nan"), np.float32("inf")], "n": np.int64(3),
                                     "ppv": np.nan, "ok": [0.5, (1, 2)]})

    def refuse(name):
        raise ValueError(name)

    got = json.loads((tmp_path / "m.json").read_text(), parse_constant=refuse)
    assert got == {"auc_ci": [None, None], "n": 3, "ppv": None, "ok": [0.5, [1, 2]]}


def test_a_folder_that_cannot_be_written_is_one_error_line(tmp_path, monkeypatch):
    """A read-only or immutable folder was a PermissionError traceback at the end of the work (predict, export,
    explain, train). The writers say so in one line; the CLI's --out check probes first (root passes os.access).
    Here creating anything in the folder is refused, as an immutable folder refuses root."""
    import tempfile

    from medtrain._io import check_output

    locked = tmp_path / "locked"
    locked.mkdir()
    real = {name: getattr(tempfile, name) for name in ("mkstemp", "mkdtemp", "TemporaryFile")}

    def refusing(name):
        def make(*a, dir=None, **k):
            if dir is not None and os.path.samefile(dir, locked):
                raise PermissionError(1, "Operation not permitted")
            return real[name](*a, dir=dir, **k)
        return make

    for name in real:
        monkeypatch.setattr(tempfile, name, refusing(name))
    message = f"cannot write in {locked} \\(Operation not permitted\\)"
    with pytest.raises(MedtrainError, match=message):
        write_json(locked / "a.json", {})
    with pytest.raises(MedtrainError, match=message):
        with atomic_dir(locked / "maps"):
            pass
    with pytest.raises(MedtrainError, match="--out .*run/b.txt: " + message):
        check_output(locked / "run" / "b.txt", what="--out ", probe=True)
    check_output(locked / "run" / "b.txt")  # without the probe nothing is written to find out
    assert list(locked.iterdir()) == []
    write_text(tmp_path / "free.txt", "x")  # elsewhere nothing changes


def test_a_pipe_is_written_in_place_not_replaced(tmp_path):
    """Renaming a finished file onto /dev/stdout had replaced the device link with a regular file (as root) and
    the output never reached the reader. A device or pipe is written directly; its reader gets the text."""
    import threading

    from medtrain._io import is_stream

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo).read()))
    reader.start()
    write_text(fifo, "a,b\n1,2\n")
    reader.join(10)
    assert got == ["a,b\n1,2\n"]
    assert is_stream(fifo) and is_stream("-") and is_stream("/dev/null") and not is_stream(tmp_path / "x.csv")
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_place_no_file_can_be_made_is_one_error_line():
    """/proc refuses new files with ENOENT, which had been re-raised as a FileNotFoundError traceback."""
    from medtrain._io import check_output

    with pytest.raises(MedtrainError, match=r"--out /proc/x.csv: cannot write in /proc"):
        check_output("/proc/x.csv", what="--out ", probe=True)
    with pytest.raises(MedtrainError, match="a folder is written here, not a stream"):
        check_output("-", folder=True, what="--out ")


def test_a_link_to_a_descriptor_redirected_to_a_file_is_written_through_not_replaced(tmp_path):
    """`--out /dev/stdout > preds.csv`: /dev/stdout links to /proc/self/fd/1, which leads to a regular file; renaming
    onto the link had replaced /dev/stdout itself with a file, and preds.csv stayed empty."""
    with open(tmp_path / "redirected.csv", "w") as f:
        link = tmp_path / "mystdout"
        link.symlink_to(f"/proc/self/fd/{f.fileno()}")
        write_text(link, "a,b\n")
        f.flush()
    assert (tmp_path / "redirected.csv").read_text() == "a,b\n"
    assert link.is_symlink() and not list(tmp_path.glob(".*.tmp"))


def test_a_descriptor_is_written_at_its_position_and_in_its_mode(tmp_path):
    """`>> app.log` and `(echo before; medtrain ...; echo after) > f`: re-opening /proc/self/fd/N by name had
    truncated the file and written from its start; the output goes through the descriptor itself, after what is
    there, and a later writer of the descriptor continues after it."""
    log = tmp_path / "app.log"
    log.write_text("line 1\nline 2\n")
    with open(log, "a") as f:
        write_text(f"/proc/self/fd/{f.fileno()}", "a,b\n")
    assert log.read_text() == "line 1\nline 2\na,b\n"
    with open(tmp_path / "f", "w") as f:
        f.write("before\n")
        f.flush()
        write_text(f"/dev/fd/{f.fileno()}", "a,b\n")
        f.write("after\n")
    assert (tmp_path / "f").read_text() == "before\na,b\nafter\n"
    with pytest.raises(RuntimeError), open(log, "a") as f:  # a failed write leaves the stream as it was
        with atomic_path(f"/proc/self/fd/{f.fileno()}") as tmp:
            tmp.write_text("half")
            raise RuntimeError
    assert log.read_text() == "line 1\nline 2\na,b\n"


def test_a_yaml_file_that_is_a_fifo_or_a_folder_is_said_to_be_one(tmp_path):
    import os

    import pytest

    from medtrain._yaml import read_yaml_file
    from medtrain.errors import MedtrainError

    os.mkfifo(tmp_path / "cfg.yaml")
    with pytest.raises(MedtrainError, match=r"config file .*cfg\.yaml: not a regular file"):
        read_yaml_file(tmp_path / "cfg.yaml", "config file")
    with pytest.raises(MedtrainError, match=r"policy file .*: is a folder"):
        read_yaml_file(tmp_path, "policy file")
    with pytest.raises(MedtrainError, match=r"config file not found"):
        read_yaml_file(tmp_path / "none.yaml", "config file")


# -- outputs the storage refuses: a full disk, a quota, a file-size limit, a failing or read-only device ----------

@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS])
def test_a_refused_write_is_one_line_naming_the_output_and_the_old_file_is_kept(tmp_path, code):
    """A full disk had been an OSError traceback (exit 1) from whatever wrote: predict's CSV, export's model, a
    plot, report.html. It is one line naming the file the user asked for, nothing half-written is left (no
    temporary file) and what the file held before is still there."""
    out = tmp_path / "pred.csv"
    out.write_text("the earlier predictions\n")
    with pytest.raises(MedtrainError) as e:
        with atomic_path(out) as tmp:
            tmp.write_text("half")
            raise OSError(code, os.strerror(code))
    assert str(e.value) == f"cannot write {out}: {os.strerror(code)}" and not isinstance(e.value, OSError)
    assert os.listdir(tmp_path) == ["pred.csv"] and out.read_text() == "the earlier predictions\n"


@pytest.mark.parametrize("writer", ["plain", "numpy", "torch", "safetensors", "pillow"])
def test_every_library_writing_into_a_full_file_system_gives_the_same_line(tmp_path, writer):
    """torch.save raises a RuntimeError and safetensors its own SafetensorError, not OSError (train failed at
    model.safetensors with a Rust error's traceback): each is the same line naming the output."""
    import numpy as np
    import torch

    def write(tmp):
        big = np.zeros((300, 300), np.uint8) + np.arange(300, dtype=np.uint8)
        if writer == "plain":
            tmp.write_bytes(big.tobytes())
        elif writer == "numpy":
            with open(tmp, "wb") as f:  # as the probe's codes and volume caches are written
                np.savez(f, big=big)
        elif writer == "torch":
            with open(tmp, "wb") as f:  # as the checkpoints are written
                torch.save({"w": torch.from_numpy(big)}, f)
        elif writer == "safetensors":
            from safetensors.torch import save_file

            save_file({"w": torch.from_numpy(big)}, str(tmp))
        else:
            from PIL import Image

            Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 300), np.uint8)).save(tmp, format="png")

    out = tmp_path / "model.bin"
    with pytest.raises(MedtrainError, match=f"^cannot write {out}: File too large$"), file_size_limit(4096):
        with atomic_path(out) as tmp:
            write(tmp)
    assert os.listdir(tmp_path) == []
    write_text(out, "x")  # the limit gone, the same write succeeds


def test_a_full_stream_is_one_line_naming_it(tmp_path):
    """`predict ... --out /dev/full` (or `--out -` into a full disk) had been a traceback from the stream's close."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with pytest.raises(MedtrainError, match="^cannot write /dev/full: No space left on device$"):
        write_text("/dev/full", "a,b\n" * 5000)
    from medtrain._io import open_stream

    with pytest.raises(MedtrainError, match="^cannot write /dev/full: No space left on device$"):
        with open_stream("/dev/full") as f:
            f.write("a,b\n")


def test_a_file_of_a_folder_output_is_reported_as_the_folder_and_nothing_is_left(tmp_path):
    """explain's overlays are written in a temporary folder renamed to --out: a full disk had named the temporary
    PNG (small/.cam.h65.tmp/0000_0.png), a path the user never gave and that no longer exists."""
    maps = tmp_path / "cam"
    maps.mkdir()
    (maps / "earlier.png").write_bytes(b"png")
    with pytest.raises(MedtrainError, match=f"^cannot write {maps}: No space left on device$"):
        with atomic_dir(maps) as tmp:
            write_text(tmp / "0000_0.png", "first")
            with atomic_path(tmp / "0001_1.png"):
                raise OSError(errno.ENOSPC, "No space left on device")
    assert os.listdir(tmp_path) == ["cam"] and os.listdir(maps) == ["earlier.png"]


def test_errors_that_are_not_the_storage_stay_as_they_are(tmp_path):
    """Only the storage's refusals are the user's to fix: an OSError of a bug (ENOENT) keeps its type and
    traceback, and an I/O error reading an input (it names another file) is not said to be the output's."""
    with pytest.raises(FileNotFoundError):
        with atomic_path(tmp_path / "out.csv"):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", "missing.txt")
    with pytest.raises(OSError) as e:
        with atomic_path(tmp_path / "out.csv"):
            raise OSError(errno.EIO, "Input/output error", str(tmp_path / "input.png"))
    assert type(e.value) is OSError and e.value.filename == str(tmp_path / "input.png")
    with pytest.raises(MemoryError):
        with atomic_path(tmp_path / "out.csv"):
            raise MemoryError
    assert os.listdir(tmp_path) == []
