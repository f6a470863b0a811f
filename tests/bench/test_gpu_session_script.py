"""bench/gpu_session.sh's pytest command is one the project's own test tools accept: it had passed
``--timeout 200``, an option of pytest-timeout, which is not in the [test] extras, so the test half of the GPU
session stopped at once ('unrecognized arguments: --timeout') and its junit.xml was never written."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu_session.sh"


def _pytest_options(out: Path) -> list[str]:
    text = re.sub(r"\\\n\s*", " ", SCRIPT.read_text()).replace("$OUT", str(out))
    line = next(ln for ln in text.splitlines() if "-m pytest" in ln and not ln.lstrip().startswith("#"))
    args = shlex.split(line.split("-m pytest", 1)[1].split(">", 1)[0])
    assert any(a.startswith("--junitxml") for a in args), args
    return args


def test_pytest_options_are_accepted(tmp_path):
    # the script's options, then one worker and collection only, of this file (last -n wins): a parse check
    args = [*_pytest_options(tmp_path), "-n", "0", "--collect-only", __file__]
    res = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=SCRIPT.parents[1], text=True,
                         capture_output=True, timeout=120)
    assert res.returncode == 0, res.stdout[-500:] + res.stderr[-500:]
    assert (tmp_path / "junit.xml").is_file()
