"""bench/gpu_session.sh's pytest command is one the project's own test tools accept: it had passed
``--timeout 200``, an option of pytest-timeout, which is not in the [test] extras, so the test half of the GPU
session stopped at once ('unrecognized arguments: --timeout') and its junit.xml was never written. And the
coreutils timeout around it ends pytest so that it still writes junit.xml: SIGTERM, timeout's default, had killed it
with none written."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu_session.sh"


def _pytest_line(out: Path) -> str:
    text = re.sub(r"\\\n\s*", " ", SCRIPT.read_text()).replace("$OUT", str(out))
    return next(ln for ln in text.splitlines() if "-m pytest" in ln and not ln.lstrip().startswith("#"))


def _pytest_options(out: Path) -> list[str]:
    args = shlex.split(_pytest_line(out).split("-m pytest", 1)[1].split(">", 1)[0])
    assert any(a.startswith("--junitxml") for a in args), args
    return args


def _timeout_options(out: Path, limit: int) -> list[str]:
    """The options the script gives coreutils timeout before the pytest command, its $LIMIT set to ``limit``."""
    before = shlex.split(_pytest_line(out).split("-m pytest", 1)[0].replace("$LIMIT", str(limit)))
    assert "timeout" in before and before[-1] == "python3", before
    return before[before.index("timeout") + 1:-1]


def test_pytest_options_are_accepted(tmp_path):
    # the script's options, then one worker and collection only, of this file (last -n wins): a parse check;
    # without pytest-timeout, so that its --timeout is refused here as where it is not installed
    args = [*_pytest_options(tmp_path), "-p", "no:timeout", "-n", "0", "--collect-only", __file__]
    res = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=SCRIPT.parents[1], text=True,
                         capture_output=True, timeout=120)
    assert res.returncode == 0, res.stdout[-500:] + res.stderr[-500:]
    assert (tmp_path / "junit.xml").is_file()


def test_suite_past_the_limit_still_writes_junit(tmp_path):
    # the script's timeout around its pytest options (one worker), on a test that sleeps past a 3 s limit
    (tmp_path / "test_sleeps.py").write_text("import time\n\n\ndef test_sleeps():\n    time.sleep(60)\n")
    out = tmp_path / "out"
    out.mkdir()
    args = [*_pytest_options(out), "-p", "no:timeout", "-n", "0", str(tmp_path / "test_sleeps.py")]
    started = time.monotonic()
    res = subprocess.run(["timeout", *_timeout_options(out, 3), sys.executable, "-m", "pytest", *args],
                         cwd=tmp_path, text=True, capture_output=True, timeout=120)
    assert res.returncode == 124, (res.returncode, res.stdout[-500:] + res.stderr[-500:])  # timeout's: limit hit
    assert time.monotonic() - started < 40
    assert (out / "junit.xml").is_file(), res.stdout[-500:] + res.stderr[-500:]
